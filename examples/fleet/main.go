// Command fleet runs one shell command on many SSH hosts at once and
// prints each host's result and round trip in a table:
//
//	go run ./examples/fleet -c 'uname -sr' web-1 web-2 db-1
//
// Hosts are ~/.ssh/config aliases (or [user@]host[:port]); host keys are
// checked against known_hosts, and ssh-agent and the configured identity
// files are used, as by OpenSSH. A host "local:NAME" is a local child
// process, to try the example without hosts. Nothing needs to be installed on a host
// but a POSIX shell: the program ships itself there.
//
// Each host is a context under one supervisor, with an intensity of its
// own and retried with backoff while it is down, so a host that is down
// or goes down never stops the others: its row says why. Ctrl-C cancels
// the commands, whose process groups are killed on the hosts, and shuts
// every context down: no remote process is left behind.
//
// With -debug 127.0.0.1:6060 the live view of the tree (package
// actors/debug) is served at http://127.0.0.1:6060/debug/spindle/ while
// the hosts start and the command runs, and after the table the contexts
// stay up, with the view, until Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/actors/calls"
	"github.com/spindle-go/spindle/actors/command"
	"github.com/spindle-go/spindle/actors/debug"
	"github.com/spindle-go/spindle/actors/introspect"
	"github.com/spindle-go/spindle/actors/transfer"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
	"github.com/spindle-go/spindle/supervision"
)

func main() {
	spawn.Main(setup) // on a host: serve the context, never return
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fleet:", err)
		os.Exit(1)
	}
}

// setup runs in every context: each can run commands for its parent,
// and answers the tree query of the live view.
func setup(n *actors.Node) error { _, err := newRunner(n); return err }

func newRunner(n *actors.Node) (*command.Runner, error) {
	if err := introspect.Setup(n); err != nil {
		return nil, err
	}
	t, err := transfer.New(n, transfer.Config{})
	if err != nil {
		return nil, err
	}
	return command.New(t, command.Config{})
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	script := fs.String("c", "uname -sr", "shell command to run on every host")
	config := fs.String("F", "", "ssh config file (default ~/.ssh/config)")
	wait := fs.Duration("wait", time.Minute, "bound on the hosts' first start")
	timeout := fs.Duration("timeout", time.Minute, "bound on the command on each host")
	debugAddr := fs.String("debug", "", "serve the live view of the tree on this address (127.0.0.1:6060) until Ctrl-C")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var runner *command.Runner
	node, err := actors.NewNode(actors.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Setup: func(n *actors.Node) (err error) { runner, err = newRunner(n); return err }})
	if err != nil {
		return err
	}
	defer shutdown(node.Shutdown)
	if *debugAddr != "" {
		stop, err := serveDebug(node, *debugAddr, out)
		if err != nil {
			return err
		}
		defer stop()
	}

	specs := make([]supervision.ContextSpec, fs.NArg())
	for i, host := range fs.Args() {
		specs[i] = supervision.ContextSpec{Name: host, Start: start(host, *config),
			Intensity: supervision.Intensity{Forever: true}, Backoff: supervision.Backoff{Max: 5 * time.Second}}
	}
	sup, err := supervision.Start(ctx, node, supervision.Config{Name: "fleet", Children: specs})
	if err != nil {
		return err
	}
	defer shutdown(sup.Stop)
	upCtx, cancel := context.WithTimeout(ctx, *wait)
	_ = sup.WaitTried(upCtx) // every host up or failed once: the down ones get a row that says why
	cancel()

	hosts := sup.Children()
	var ids []uint32
	for _, ci := range hosts {
		if ci.Up {
			ids = append(ids, ci.ID)
		}
	}
	outs := calls.Gather(ctx, ids, calls.GatherOptions{Timeout: *timeout},
		func(ctx context.Context, id uint32) (*string, error) {
			b, err := runner.Output(ctx, id, "sh", "-c", *script)
			s := strings.TrimSpace(string(b))
			return &s, err
		})
	table(out, hosts, outs)
	if *debugAddr != "" && ctx.Err() == nil {
		fmt.Fprintln(out, "contexts up for the live view; Ctrl-C ends")
		<-ctx.Done()
		return nil
	}
	return ctx.Err() // Ctrl-C: the table shows what had finished
}

// serveDebug serves the live view of node's tree on addr until stop.
func serveDebug(node *actors.Node, addr string, out io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	view := debug.Handler(node, debug.Options{})
	mux := http.NewServeMux()
	mux.Handle("/debug/spindle/", view)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	fmt.Fprintf(out, "live view: http://%s/debug/spindle/\n", ln.Addr())
	return func() { _ = srv.Close(); <-done; _ = view.Close() }, nil
}

// start starts a host's context over SSH; "local:NAME" starts a local
// child process instead, to try the example without hosts.
func start(host, config string) supervision.StartFunc {
	return func(ctx context.Context, node *actors.Node, name string) (spawn.Child, error) {
		if strings.HasPrefix(host, "local:") {
			return spawn.Local(ctx, node, spawn.Options{Common: spawn.Common{Name: name}})
		}
		return ssh.Start(ctx, node, ssh.Options{Host: host, ConfigFile: config, Common: spawn.Common{Name: name}})
	}
}

// table prints one row per host: its output or why it has none.
func table(out io.Writer, hosts []supervision.ChildInfo, outs []calls.Outcome[string]) {
	byID := map[uint32]calls.Outcome[string]{}
	for _, o := range outs {
		byID[o.Context] = o
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "HOST\tRESULT\tROUND TRIP")
	for _, ci := range hosts {
		o, ran := byID[ci.ID]
		switch {
		case !ran && ci.LastErr == nil:
			fmt.Fprintf(w, "%s\tnot up yet\t-\n", ci.Name)
		case !ran:
			fmt.Fprintf(w, "%s\tdown: %v\t-\n", ci.Name, ci.LastErr)
		case o.Err != nil:
			fmt.Fprintf(w, "%s\tfailed: %v\t%v\n", ci.Name, o.Err, o.Took.Round(time.Millisecond))
		default:
			line, _, _ := strings.Cut(*o.Resp, "\n")
			fmt.Fprintf(w, "%s\t%s\t%v\n", ci.Name, line, o.Took.Round(time.Millisecond))
		}
	}
	w.Flush()
}

// shutdown runs a Shutdown or Stop with a bound of its own: it must also
// work after ctx was cancelled by Ctrl-C.
func shutdown(f func(context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = f(ctx)
}
