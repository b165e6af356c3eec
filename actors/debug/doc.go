// Package debug serves a live view of a Spindle tree over HTTP, in the
// manner of net/http/pprof: an HTML page that shows every context of the
// tree (ID, name, method, host, user, pid, incarnation, state, uptime,
// restarts, link counters, an RTT sparkline per link) and its changes as
// they happen (contexts up, down with their IS_DEAD reason, restarted,
// state changes), and the same data as JSON.
//
// # Usage
//
// Register actors/introspect in every context (the view samples the tree
// with introspect.Tree), then mount the handler where the application
// serves its debug endpoints:
//
//	cfg := actors.Config{Setup: introspect.Setup} // root and every child
//	...
//	view := debug.Handler(root, debug.Options{})
//	defer view.Close()
//	mux.Handle("/debug/spindle/", view)
//	go http.ListenAndServe("127.0.0.1:6060", mux)
//
// Any prefix works: the handler routes on the last element of the path
// and the page names its resources relatively. Endpoints, under the
// prefix:
//
//	/            the page (HTML, script and style embedded, no external asset)
//	/tree.json   the latest sample of the tree and the recent events, as JSON
//	/events      the same as server-sent events: "tree" (a sample, each
//	             Interval), "event" (one change, at once), "events" (the
//	             recent ones, once, when the stream opens)
//
// The page uses /events and falls back to polling /tree.json where the
// stream cannot be had (no EventSource, or MaxClients streams already).
// Like pprof, the handler has no authentication of its own: mount it on a
// listener only the operator reaches.
//
// # Bounds
//
// The tree is sampled every Interval only while a stream is open (and on
// demand for /tree.json, at most once per Interval); with no viewer the
// view costs one event-stream subscription. At most MaxClients streams
// are served at once (more get 503 and the page polls). Each stream has a
// queue of ClientBuffer messages: a client that does not keep up loses
// messages, which are counted (Stats.Dropped, and "dropped" in the JSON),
// and a write that stays stuck for WriteTimeout ends its stream; nothing a
// browser does blocks the node. The recent events (MaxEvents), the
// contexts shown dead (MaxGraves) and the RTT history per link (History)
// are bounded too. A stream ends, and its goroutine returns, when the
// request's context ends (the client went away), at Close, or when the
// node shuts down.
//
// # Hostile strings
//
// Names, hosts, users and errors in the tree are the word of the contexts
// that report them. They are cut to MaxString bytes, sent as JSON (which
// escapes <, > and &), and the page only ever sets them as text
// (textContent), never as markup; the page's Content-Security-Policy
// allows no inline script.
//
// # Concurrency
//
// A View is safe for concurrent use; Close is idempotent.
package debug
