package actorstest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/spindle-go/spindle/actors"
)

// Pipe is the kind of byte stream a link runs over.
type Pipe int

const (
	// NetPipe is net.Pipe: in memory, synchronous (a write waits for the
	// reader), no descriptors. The default.
	NetPipe Pipe = iota
	// OSPipe is two os.Pipe pairs, as a local child process's stdin and
	// stdout: kernel buffers, real descriptors.
	OSPipe
)

// Shape is one context of a tree and, recursively, its children.
type Shape struct {
	// Name names the context (actors.Config.Name). Default "root" for the
	// root, "<parent>.<n>" for the n-th child (from 1). Names must be
	// unique within the tree.
	Name string
	// Setup registers message types, kinds and handlers in this context
	// (actors.Config.Setup). Nil: the parent's, so the root's Setup runs
	// in every context unless a child sets its own.
	Setup func(*actors.Node) error
	// Config is this context's configuration; nil: the parent's (the
	// root's default is the zero Config). Its Name and Setup are replaced
	// by the fields above; a nil Logger logs to the test (New) or
	// nowhere (Start).
	Config *actors.Config
	// Pipe is the link to the parent (ignored for the root).
	Pipe Pipe
	// Children are joined to this context.
	Children []Shape
}

// Context is one context of a Tree.
type Context struct {
	// Node is the context's node.
	Node *actors.Node
	// Parent is nil for the root.
	Parent   *Context
	Children []*Context

	link    *actors.ChildLink // the parent's side; nil for the root
	cutOnce sync.Once
	cut     func()
}

// Name returns the context's name.
func (c *Context) Name() string { return c.Node.Name() }

// ID returns the context's ID (the root is 0).
func (c *Context) ID() uint32 { return c.Node.ID() }

// Link returns the parent's side of the link to this context; nil for the
// root.
func (c *Context) Link() *actors.ChildLink { return c.link }

// Cut closes this context's link to its parent from its own side, as if
// its process had died: the parent declares it and its subtree dead
// (watchers get Terminated, requests fail with actors.ErrContextDead), and
// this context's node stops. Cut is idempotent; it does nothing on the root.
func (c *Context) Cut() {
	if c.cut != nil {
		c.cutOnce.Do(c.cut)
	}
}

// Tree is an in-process tree of contexts.
type Tree struct {
	all    []*Context // pre-order: every context before its children
	byName map[string]*Context
	close  sync.Once
	err    error
}

// Root returns the root context's node.
func (tr *Tree) Root() *actors.Node { return tr.all[0].Node }

// Context returns the context named name, nil if there is none.
func (tr *Tree) Context(name string) *Context { return tr.byName[name] }

// Node returns the node of the context named name, nil if there is none.
func (tr *Tree) Node(name string) *actors.Node {
	if c := tr.byName[name]; c != nil {
		return c.Node
	}
	return nil
}

// Contexts returns every context, each before its children, root first.
func (tr *Tree) Contexts() []*Context { return append([]*Context(nil), tr.all...) }

// Close shuts every node down, children before their parents, and returns
// the first error. It is idempotent.
func (tr *Tree) Close(ctx context.Context) error {
	tr.close.Do(func() {
		var errs []error
		for i := len(tr.all) - 1; i >= 0; i-- {
			if err := tr.all[i].Node.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("actorstest: shutdown %s: %w", tr.all[i].Name(), err))
			}
		}
		tr.err = errors.Join(errs...)
	})
	return tr.err
}

// Start builds the tree of shape s: it starts the root, joins every child
// to its parent and returns once the root has a route to every context.
// The caller must Close the tree. On error, what was built is shut down.
func Start(ctx context.Context, s Shape) (*Tree, error) {
	return start(ctx, s, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// New is Start for a test: it fails t if the tree cannot be built within
// 30 seconds, logs the nodes' warnings and errors to t, and closes the
// tree in t.Cleanup.
func New(t testing.TB, s Shape) *Tree {
	t.Helper()
	w := &testWriter{t: t}
	t.Cleanup(w.stop) // registered first, so it runs after the tree's Close
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := start(ctx, s, logger)
	if err != nil {
		t.Fatalf("actorstest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := tr.Close(ctx); err != nil {
			t.Errorf("%v", err)
		}
	})
	return tr
}

func start(ctx context.Context, s Shape, logger *slog.Logger) (*Tree, error) {
	if s.Name == "" {
		s.Name = "root"
	}
	cfg := config(s, actors.Config{}, logger)
	root, err := actors.NewNode(cfg)
	if err != nil {
		return nil, fmt.Errorf("actorstest: root: %w", err)
	}
	tr := &Tree{byName: map[string]*Context{}}
	if err := tr.add(&Context{Node: root}); err != nil {
		_ = tr.Close(ctx)
		return nil, err
	}
	if err := tr.grow(ctx, tr.all[0], s, cfg, logger); err != nil {
		_ = tr.Close(ctx)
		return nil, err
	}
	if err := tr.waitRoutes(ctx); err != nil {
		_ = tr.Close(ctx)
		return nil, err
	}
	return tr, nil
}

// config returns the configuration of shape s whose parent runs with
// parent.
func config(s Shape, parent actors.Config, logger *slog.Logger) actors.Config {
	cfg := parent
	if s.Config != nil {
		cfg = *s.Config
		if cfg.Setup == nil {
			cfg.Setup = parent.Setup
		}
	}
	if s.Setup != nil {
		cfg.Setup = s.Setup
	}
	cfg.Name = s.Name
	if cfg.Logger == nil {
		cfg.Logger = logger
	}
	return cfg
}

func (tr *Tree) add(c *Context) error {
	if tr.byName[c.Name()] != nil {
		return fmt.Errorf("actorstest: context name %q used twice", c.Name())
	}
	tr.byName[c.Name()] = c
	tr.all = append(tr.all, c)
	return nil
}

// grow joins the children of shape s (running as c, with cfg) to c,
// depth first.
func (tr *Tree) grow(ctx context.Context, c *Context, s Shape, cfg actors.Config, logger *slog.Logger) error {
	for i, cs := range s.Children {
		if cs.Name == "" {
			cs.Name = fmt.Sprintf("%s.%d", c.Name(), i+1)
		}
		ccfg := config(cs, cfg, logger)
		kid, err := join(ctx, c, cs, ccfg)
		if err != nil {
			return err
		}
		c.Children = append(c.Children, kid)
		if err := tr.add(kid); err != nil {
			return err
		}
		if err := tr.grow(ctx, kid, cs, ccfg, logger); err != nil {
			return err
		}
	}
	return nil
}

// join starts a child node and joins it to parent over a fresh pipe.
func join(ctx context.Context, parent *Context, s Shape, cfg actors.Config) (*Context, error) {
	pt, ct, err := pipe(s.Pipe)
	if err != nil {
		return nil, fmt.Errorf("actorstest: %s: %w", s.Name, err)
	}
	type joined struct {
		n   *actors.Node
		err error
	}
	ch := make(chan joined, 1)
	go func() {
		n, err := actors.Join(ctx, cfg, ct)
		ch <- joined{n, err}
	}()
	link, err := parent.Node.AttachChild(ctx, s.Name, pt)
	j := <-ch
	if err != nil || j.err != nil {
		_ = pt.C.Close()
		_ = ct.C.Close()
		if j.n != nil {
			_ = j.n.Shutdown(ctx)
		}
		return nil, fmt.Errorf("actorstest: join %s to %s: parent: %v, child: %v", s.Name, parent.Name(), err, j.err)
	}
	return &Context{Node: j.n, Parent: parent, link: link, cut: func() { _ = ct.C.Close() }}, nil
}

// pipe returns the parent's and the child's ends of a new link.
func pipe(kind Pipe) (parent, child actors.Transport, err error) {
	switch kind {
	case NetPipe:
		a, b := net.Pipe()
		return actors.Transport{R: a, W: a, C: a}, actors.Transport{R: b, W: b, C: b}, nil
	case OSPipe:
		down, toChild, err := os.Pipe() // the parent writes, the child reads
		if err != nil {
			return parent, child, err
		}
		fromChild, up, err := os.Pipe() // the child writes, the parent reads
		if err != nil {
			_, _ = down.Close(), toChild.Close()
			return parent, child, err
		}
		parent = actors.Transport{R: fromChild, W: toChild, C: closeBoth{fromChild, toChild}}
		child = actors.Transport{R: down, W: up, C: closeBoth{down, up}}
		return parent, child, nil
	}
	return parent, child, fmt.Errorf("unknown Pipe %d", kind)
}

type closeBoth [2]*os.File

func (c closeBoth) Close() error { return errors.Join(c[0].Close(), c[1].Close()) }

// waitRoutes waits until the root routes to every context (routes to
// grandchildren are learnt from ADD_ROUTE frames, asynchronously).
func (tr *Tree) waitRoutes(ctx context.Context) error {
	for {
		routes := tr.Root().Routes()
		missing := ""
		for _, c := range tr.all[1:] {
			if _, ok := routes[c.ID()]; !ok {
				missing = c.Name()
				break
			}
		}
		if missing == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("actorstest: the root has no route to %s: %w", missing, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// testWriter logs to a test until the test is over.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Logf("%s", p)
	}
	return len(p), nil
}

func (w *testWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}
