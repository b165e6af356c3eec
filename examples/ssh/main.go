// Command ssh starts a Spindle worker context on an SSH host, asks it who
// it is, measures the round trip and shuts it down:
//
//	go run ./examples/ssh user@host[:port]
//
// Nothing needs to be installed on the host but a POSIX shell: the program
// ships its own binary (compressed, verified by SHA-256) into a cache
// directory there on first use and reuses it afterwards. A host of another
// platform (a Mac driving linux/arm64 or linux/amd64 servers) gets this
// program built for it on demand, when run from its source with the go
// command at hand (go run, as above; -build=false turns it off), or a
// binary given with -binary:
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -o ssh-arm64 ./examples/ssh
//	go run ./examples/ssh -binary ssh-arm64 user@arm64-host
//
// The host key is checked against ~/.ssh/known_hosts; ~/.ssh/config,
// ssh-agent and the usual identity files are honoured, as by OpenSSH. A
// cold start shows the upload on stderr ("uploading spindle binary
// 3.1/5.0 MB"), rewritten in place on a terminal, a few plain lines
// otherwise.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
)

// WhoAreYou asks the worker about its host.
type WhoAreYou struct{}

// Identity is the worker's answer.
type Identity struct {
	Hostname, Platform string
	Pid, CPUs          int
}

// setup runs in every context: here and on the SSH host.
func setup(n *actors.Node) error {
	if err := actors.RegisterType[WhoAreYou](n, "example.WhoAreYou"); err != nil {
		return err
	}
	if err := actors.RegisterType[Identity](n, "example.Identity"); err != nil {
		return err
	}
	n.RegisterKind("identity", actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*WhoAreYou); ok {
			host, _ := os.Hostname()
			c.Respond(&Identity{Hostname: host, Platform: runtime.GOOS + "/" + runtime.GOARCH,
				Pid: os.Getpid(), CPUs: runtime.NumCPU()})
		}
	}))
	return nil
}

func main() {
	spawn.Main(setup) // on the SSH host: serve the context, never return
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ssh example:", err)
		os.Exit(1)
	}
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// run is the example; out gets its report, status the upload's progress.
func run(ctx context.Context, args []string, out, status io.Writer) error {
	fs := flag.NewFlagSet("ssh", flag.ContinueOnError)
	fs.SetOutput(out)
	var identities, knownHosts, binaries listFlag
	fs.Var(&identities, "i", "identity (private key) file; repeatable")
	fs.Var(&knownHosts, "known-hosts", "known_hosts file instead of the configured ones; repeatable")
	config := fs.String("F", "", `ssh config file ("none" for none; default ~/.ssh/config)`)
	acceptNew := fs.Bool("accept-new", false, "add an unknown host key to known_hosts (changed keys are still refused)")
	requests := fs.Int("n", 1000, "round trips to measure")
	timeout := fs.Duration("timeout", 60*time.Second, "bound on the whole start")
	verbose := fs.Bool("v", false, "debug logs")
	fs.Var(&binaries, "binary", "this program built for another platform (read from the file); repeatable")
	build := fs.Bool("build", true, "build this program for the host's platform when no binary is for it (needs the go command and this source)")
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: ssh [flags] [user@]host[:port]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("want exactly one host")
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	node, err := actors.NewNode(actors.Config{Name: "root", Setup: setup, Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
	}()

	opts := ssh.Options{Host: fs.Arg(0), ConfigFile: *config, IdentityFiles: identities,
		KnownHostsFiles: knownHosts, Common: spawn.Common{Name: "worker"},
		Bootstrap: spawn.Bootstrap{Timeout: *timeout, Progress: newProgressLine(status).report}}
	for _, b := range binaries {
		opts.Binaries = append(opts.Binaries, spawn.NewBinary(b, ""))
	}
	if *build {
		opts.Build = spawn.NewBuilder(spawn.BuildOptions{Logger: logger})
	}
	if *acceptNew {
		opts.HostKeyPolicy = ssh.HostKeyAcceptNew
	}
	if pw := os.Getenv("SPINDLE_SSH_PASSWORD"); pw != "" {
		opts.Password = func(string, string) (string, error) { return pw, nil }
	}
	begin := time.Now()
	w, err := ssh.Start(ctx, node, opts)
	if err != nil {
		return explain(err)
	}
	pid, err := w.Spawn(ctx, "identity", "identity")
	if err != nil {
		return err
	}
	id, err := actors.Request[*Identity](ctx, node, pid, &WhoAreYou{})
	if err != nil {
		return err
	}
	info := w.Info()
	fmt.Fprintf(out, "worker context %d on %s: up %v after the start\n", w.ID(), info.Host, time.Since(begin).Round(time.Millisecond))
	fmt.Fprintf(out, "  hostname   %s\n", id.Hostname)
	fmt.Fprintf(out, "  platform   %s, %d CPUs, process %d\n", id.Platform, id.CPUs, id.Pid)
	if info.Boot.Built {
		fmt.Fprintf(out, "  binary     built for %s on demand (%v, build cache in the user cache directory)\n", info.Boot.Platform, info.Boot.Build.Round(time.Millisecond))
	}
	if info.Boot.CacheHit {
		fmt.Fprintf(out, "  binary     cached in %s (nothing uploaded)\n", info.Boot.Dir)
	} else {
		fmt.Fprintf(out, "  binary     uploaded to %s: %d bytes (%s), verified with %s\n", info.Boot.Dir, info.Boot.Uploaded, info.Boot.Codec, info.Boot.DigestTool)
	}
	fmt.Fprintf(out, "  start      connect %v, bootstrap %v, handshake %v\n",
		info.Boot.Connect.Round(time.Millisecond), info.Boot.Bootstrap.Round(time.Millisecond), info.Boot.Handshake.Round(time.Millisecond))

	samples := make([]time.Duration, 0, *requests)
	for i := 0; i < *requests; i++ {
		start := time.Now()
		if _, err := actors.Request[*Identity](ctx, node, pid, &WhoAreYou{}); err != nil {
			return err
		}
		samples = append(samples, time.Since(start))
	}
	if len(samples) > 0 {
		sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
		q := func(f float64) time.Duration { return samples[int(f*float64(len(samples)-1))].Round(time.Microsecond) }
		fmt.Fprintf(out, "  round trip p50 %v, p99 %v over %d requests\n", q(0.5), q(0.99), len(samples))
	}
	if err := w.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Fprintln(out, "worker shut down")
	return nil
}

// progressLine shows the binary's upload: one line rewritten in place
// (at most ten times a second) on a terminal, else a line at the start,
// at each quarter and at the end.
type progressLine struct {
	w       io.Writer
	tty     bool
	last    time.Time
	quarter int64
}

func newProgressLine(w io.Writer) *progressLine {
	p := &progressLine{w: w}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// report is Bootstrap.Progress: called from one goroutine, in order.
func (p *progressLine) report(r spawn.Progress) {
	mb := func(n int64) float64 { return float64(n) / 1e6 }
	line := fmt.Sprintf("uploading spindle binary %.1f/%.1f MB (%s, %.1f MB unpacked)", mb(r.Done), mb(r.Total), r.Codec, mb(r.Size))
	end := r.Done == r.Total
	if p.tty {
		if !end && r.Done > 0 && time.Since(p.last) < 100*time.Millisecond {
			return
		}
		p.last = time.Now()
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		if end {
			fmt.Fprintln(p.w)
		}
		return
	}
	if q := r.Done * 4 / r.Total; r.Done == 0 || end || q > p.quarter {
		p.quarter = q
		fmt.Fprintln(p.w, line)
	}
}

// explain adds a hint to the failures a user can fix.
func explain(err error) error {
	switch {
	case errors.Is(err, ssh.ErrUnknownHost):
		return fmt.Errorf("%w\nhint: connect once with ssh(1) to check and record the key, or pass -accept-new", err)
	case errors.Is(err, ssh.ErrAuthFailed):
		return fmt.Errorf("%w\nhint: load a key into ssh-agent, pass -i KEY, or set SPINDLE_SSH_PASSWORD", err)
	case errors.Is(err, spawn.ErrPlatformMismatch):
		return fmt.Errorf("%w\nhint: run it from its source with the go command at hand (go run ./examples/ssh) so it builds itself for the host, or pass -binary with a build for the host's platform", err)
	}
	return err
}
