package debug_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/debug"
	"github.com/spindle-go/spindle/actors/introspect"
)

// Mount the live view under a prefix, as net/http/pprof is mounted, and
// read the tree as JSON. In a program, serve mux on a listener only the
// operator reaches (http.ListenAndServe("127.0.0.1:6060", mux)) and open
// http://127.0.0.1:6060/debug/spindle/ in a browser.
func ExampleHandler() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: introspect.Setup}) // and in every child
	if err != nil {
		panic(err)
	}
	defer root.Shutdown(ctx)

	view := debug.Handler(root, debug.Options{Interval: time.Second})
	defer view.Close()
	mux := http.NewServeMux()
	mux.Handle("/debug/spindle/", view)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/debug/spindle/tree.json")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var snap debug.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil {
		panic(err)
	}
	for _, c := range snap.Contexts {
		fmt.Println(c.ID, c.Name, c.State)
	}
	// Output:
	// 0 root up
}
