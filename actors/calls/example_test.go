package calls_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
)

// Types of the examples.
type (
	UptimeReq struct{}
	Uptime    struct {
		Context uint32
		Seconds int
	}
	Key   struct{ Name string }
	Value struct{ Data string }
)

// ErrNoKey is registered by name, so that callers can test for it.
var ErrNoKey = errors.New("kv: no such key")

// exampleSetup is the Config.Setup of every context of the examples: it
// makes the endpoint, registers a function, a service and an error.
func exampleSetup(n *actors.Node) error {
	ep, err := calls.New(n, calls.Config{})
	if err != nil {
		return err
	}
	if err := calls.RegisterError(ep, "kv.ErrNoKey", ErrNoKey); err != nil {
		return err
	}
	if err := calls.Handle(ep, "uptime", func(ctx context.Context, _ *UptimeReq) (*Uptime, error) {
		return &Uptime{Context: n.ID(), Seconds: 42}, nil
	}); err != nil {
		return err
	}
	kv, err := calls.NewService(ep, "kv", calls.ServiceConfig{Policy: calls.AnyContext, MaxConcurrent: 4})
	if err != nil {
		return err
	}
	return calls.Method(kv, "get", func(ctx context.Context, k *Key) (*Value, error) {
		if k.Name != "motd" {
			return nil, fmt.Errorf("get %q: %w", k.Name, ErrNoKey)
		}
		return &Value{Data: fmt.Sprintf("hello from context %d", n.ID())}, nil
	})
}

// exampleTree starts a root and n children over pipes, all with
// exampleSetup (a real program starts children with package spawn).
func exampleTree(n int) (root *actors.Node, kids []*actors.Node, stop func()) {
	cfg := actors.Config{Setup: exampleSetup, Logger: quietLogger()}
	root, err := actors.NewNode(cfg)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range n {
		pEnd, cEnd := net.Pipe()
		joined := make(chan *actors.Node, 1)
		go func() {
			k, err := actors.Join(ctx, cfg, actors.Transport{R: cEnd, W: cEnd, C: cEnd})
			if err != nil {
				panic(err)
			}
			joined <- k
		}()
		if _, err := root.AttachChild(ctx, fmt.Sprint("worker-", i+1), actors.Transport{R: pEnd, W: pEnd, C: pEnd}); err != nil {
			panic(err)
		}
		kids = append(kids, <-joined)
	}
	return root, kids, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, k := range kids {
			_ = k.Shutdown(ctx)
		}
		_ = root.Shutdown(ctx)
	}
}

// Example: a function registered in every context by Config.Setup, called
// in a child.
func Example() {
	root, kids, stop := exampleTree(1)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	ep := calls.Of(root)
	up, err := calls.Call[UptimeReq, Uptime](ctx, ep, kids[0].ID(), "uptime", &UptimeReq{})
	if err != nil {
		panic(err)
	}
	fmt.Printf("context %d is up %ds\n", up.Context, up.Seconds)
	// Output: context 1 is up 42s
}

// ExampleCall_errors: handler errors are errors at the caller; registered
// ones keep their identity, refusals have a stable code.
func ExampleCall_errors() {
	root, kids, stop := exampleTree(1)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_, err := calls.CallService[Key, Value](ctx, calls.Of(root), kids[0].ID(), "kv", "get", &Key{Name: "nope"})
	fmt.Println(errors.Is(err, ErrNoKey))
	var re *calls.RemoteError
	if errors.As(err, &re) {
		fmt.Println(re.Code, re.Context, re.Name)
	}
	// The child may not call its parent's plain functions.
	_, err = calls.Call[UptimeReq, Uptime](ctx, calls.Of(kids[0]), root.ID(), "uptime", &UptimeReq{})
	fmt.Println(errors.Is(err, calls.ErrRefused))
	// Output:
	// true
	// error 1 kv.get
	// true
}

// ExampleCallService: a service open to every context, called by a
// sibling.
func ExampleCallService() {
	_, kids, stop := exampleTree(2)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	v, err := calls.CallService[Key, Value](ctx, calls.Of(kids[0]), kids[1].ID(), "kv", "get", &Key{Name: "motd"})
	if err != nil {
		panic(err)
	}
	fmt.Println(v.Data)
	// Output: hello from context 2
}

// ExampleNewService registers a service whose policy admits the callers
// with odd context IDs only.
func ExampleNewService() {
	node, err := actors.NewNode(actors.Config{Logger: quietLogger()})
	if err != nil {
		panic(err)
	}
	defer node.Shutdown(context.Background())
	ep, err := calls.New(node, calls.Config{})
	if err != nil {
		panic(err)
	}
	svc, err := calls.NewService(ep, "jobs", calls.ServiceConfig{
		Policy:        func(c calls.Caller) bool { return c.Self || c.ID%2 == 1 },
		MaxConcurrent: 2,
		MaxQueued:     16,
	})
	if err != nil {
		panic(err)
	}
	err = calls.Method(svc, "run", func(ctx context.Context, k *Key) (*Value, error) {
		c, _ := calls.CallerOf(ctx)
		return &Value{Data: fmt.Sprintf("%s for context %d", k.Name, c.ID)}, nil
	})
	if err != nil {
		panic(err)
	}
	v, err := calls.CallService[Key, Value](context.Background(), ep, node.ID(), "jobs", "run", &Key{Name: "build"})
	fmt.Println(v.Data, err)
	// Output: build for context 0 <nil>
}

// ExampleGather calls every worker at once and prints one line per
// target, errors included.
func ExampleGather() {
	root, kids, stop := exampleTree(3)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ep := calls.Of(root)
	targets := []uint32{kids[0].ID(), kids[1].ID(), kids[2].ID(), 77}

	outs := calls.Gather(ctx, targets, calls.GatherOptions{MaxConcurrent: 8, Timeout: time.Second},
		func(ctx context.Context, id uint32) (*Uptime, error) {
			return calls.Call[UptimeReq, Uptime](ctx, ep, id, "uptime", &UptimeReq{})
		})
	for _, o := range outs {
		if o.Err != nil {
			fmt.Printf("%d: dead=%v\n", o.Context, errors.Is(o.Err, actors.ErrContextDead))
			continue
		}
		fmt.Printf("%d: up %ds\n", o.Context, o.Resp.Seconds)
	}
	// Output:
	// 1: up 42s
	// 2: up 42s
	// 3: up 42s
	// 77: dead=true
}

// ExampleCallAll is Gather of one function.
func ExampleCallAll() {
	root, kids, stop := exampleTree(2)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	outs := calls.CallAll[UptimeReq, Uptime](ctx, calls.Of(root), []uint32{kids[0].ID(), kids[1].ID()}, "uptime", &UptimeReq{}, calls.GatherOptions{})
	for _, o := range outs {
		fmt.Println(o.Context, o.Resp.Seconds, o.Err)
	}
	// Output:
	// 1 42 <nil>
	// 2 42 <nil>
}

// ExampleGo: an actor calls a function without blocking in Receive and
// gets the outcome as a message.
func ExampleGo() {
	root, kids, stop := exampleTree(1)
	defer stop()
	ep := calls.Of(root)
	done := make(chan string, 1)
	props := actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case uint32: // "ask context m for its uptime"
			calls.Go(context.Background(), ep, c.Self(), m, func(ctx context.Context) (*Uptime, error) {
				ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				defer cancel()
				return calls.Call[UptimeReq, Uptime](ctx, ep, m, "uptime", &UptimeReq{})
			})
		case *calls.Result[Uptime]:
			done <- fmt.Sprintf("context %v: up %ds, err %v", m.Tag, m.Resp.Seconds, m.Err)
		}
	})
	pid := root.System().Root.Spawn(props)
	root.System().Root.Send(pid, kids[0].ID())
	fmt.Println(<-done)
	// Output: context 1: up 42s, err <nil>
}

// ExampleRegisterErrorType: an error type travels with its fields.
func ExampleRegisterErrorType() {
	node, err := actors.NewNode(actors.Config{Logger: quietLogger()})
	if err != nil {
		panic(err)
	}
	defer node.Shutdown(context.Background())
	ep, _ := calls.New(node, calls.Config{})
	_ = calls.RegisterErrorType[*CodedError](ep, "example.CodedError")
	_ = calls.Handle(ep, "fail", func(context.Context, *Key) (*Value, error) {
		return nil, &CodedError{Code: 7, Msg: "no quota"}
	})
	_, err = calls.Call[Key, Value](context.Background(), ep, node.ID(), "fail", &Key{})
	var ce *CodedError
	fmt.Println(errors.As(err, &ce), ce.Code, ce.Msg)
	// Output: true 7 no quota
}

// ExampleHandle: a handler sees the caller and the caller's deadline; a
// panic is an error to the caller, and the context lives on.
func ExampleHandle() {
	node, err := actors.NewNode(actors.Config{Logger: quietLogger()})
	if err != nil {
		panic(err)
	}
	defer node.Shutdown(context.Background())
	ep, _ := calls.New(node, calls.Config{MaxConcurrent: 8})
	_ = calls.Handle(ep, "whoami", func(ctx context.Context, _ *Key) (*Value, error) {
		c, _ := calls.CallerOf(ctx)
		_, hasDeadline := ctx.Deadline()
		return &Value{Data: fmt.Sprintf("caller %d, deadline %v", c.ID, hasDeadline)}, nil
	})
	_ = calls.Handle(ep, "boom", func(context.Context, *Key) (*Value, error) { panic("oops") })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, _ := calls.Call[Key, Value](ctx, ep, node.ID(), "whoami", &Key{})
	fmt.Println(v.Data)
	_, err = calls.Call[Key, Value](ctx, ep, node.ID(), "boom", &Key{})
	fmt.Println(errors.Is(err, calls.ErrPanic))
	// Output:
	// caller 0, deadline true
	// true
}

// ExampleRegisterError: a sentinel registered under the same name in
// every context comes back as itself.
func ExampleRegisterError() {
	root, kids, stop := exampleTree(1)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// exampleSetup registered ErrNoKey as "kv.ErrNoKey" in both contexts.
	_, err := calls.CallService[Key, Value](ctx, calls.Of(root), kids[0].ID(), "kv", "get", &Key{Name: "missing"})
	fmt.Println(errors.Is(err, ErrNoKey))
	fmt.Println(err)
	// Output:
	// true
	// calls: kv.get in context 1: get "missing": kv: no such key
}
