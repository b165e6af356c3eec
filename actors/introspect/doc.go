// Package introspect gathers a Spindle tree as data: every context's ID,
// name, incarnation, host, user, pid, uptime, state and link counters,
// asked of each context by its parent over the node's kind seam (kinds
// TREE_QUERY and TREE_REPLY, 140 and 141), with a deadline; and how each
// was started and how often restarted, as its ancestors recorded them
// (actors.Node.Annotate). Package actors/debug serves it as a live page.
//
// # Usage
//
// Register the package in every context, then ask any context for its
// subtree (the root for the whole tree):
//
//	cfg := actors.Config{Setup: introspect.Setup} // in the root and every child
//	...
//	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
//	defer cancel()
//	tree, err := introspect.Tree(ctx, root)
//
// # Deadlines, authority and bounds
//
// Tree returns by ctx's deadline (DefaultDeadline when ctx has none). Each
// context asks its own children with three quarters of the time it has
// left and answers with what it has by its own deadline: a subtree that
// does not answer in time is a row in StateTimeout, one that cannot be
// reached (its link is down, no route) a row in StateUnreachable; neither
// is waited for past the deadline.
//
// A context answers TREE_QUERY only from one of its ancestors (the frame's
// source, checked by the node's reverse-path rule, must be in
// Node.Parents): a sibling or a descendant learns nothing. An answer is
// accepted only from the child it was asked of, for a query in flight; it
// is dropped unread beyond MaxReplyBytes, and its rows are checked: at
// most the rows the query allowed, the first row is the child itself,
// every other row names a context that the asker routes through that
// child and a parent already seen, strings are cut to MaxString bytes.
// Rows that fail are dropped and counted in the child's Context.Dropped;
// an answer that cannot be decoded turns the child's row to
// StateInvalid. So a hostile child can lie only about its own subtree,
// and cannot make its ancestors hold more than the bounds above.
//
// # Concurrency
//
// Tree is safe for concurrent use. Setup must run in Config.Setup.
package introspect
