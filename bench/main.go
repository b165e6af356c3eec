// Command bench measures Spindle side by side with the systems a user would
// use instead (Mitogen, protoactor-go's gRPC remote) and with the raw floor
// of the machine, in one run, and prints a markdown table; -json writes the
// figures for machines.
//
//	cd bench && go run . -quick -json /tmp/bench.json   # 10-20 s
//	cd bench && go run . -json results.json             # the full run, about 3 min
//
// Peers that are not installed are reported as skipped; bench/setup.sh
// installs them. Spindle contexts and the floor's processes run bench/child,
// which the harness builds at the start of a run (Spindle without the gRPC
// stack, so it starts as fast as a Spindle program); the protoactor peer is
// this binary again. docs/benchmarks.md describes the method.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spindle-go/spindle/bench/internal/workload"
	"github.com/spindle-go/spindle/spawn"
)

func main() {
	spawn.Main(workload.Setup) // with -child self, Spindle contexts are this binary
	if code, ok := runRole(os.Getenv(workload.RoleEnv)); ok {
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// runRole plays the part of a child process other than a Spindle context.
func runRole(role string) (code int, ok bool) {
	switch role {
	case "":
		return 0, false
	case roleProtoactor:
		return protoactorPeer(), true
	}
	if code, ok := workload.RunRole(role); ok {
		return code, true
	}
	fmt.Fprintf(os.Stderr, "bench: unknown %s=%q\n", workload.RoleEnv, role)
	return 2, true
}

type options struct {
	quick    bool
	jsonPath string
	mdPath   string
	only     string
	python   string
	ssh      bool
	docker   bool
	child    string
	profile  string
	profWork string
	limit    time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.quick, "quick", false, "a short run (well under a minute); figures are indicative")
	fs.StringVar(&o.jsonPath, "json", "", "write the figures as JSON to this file")
	fs.StringVar(&o.mdPath, "md", "", "also write the markdown report to this file")
	fs.StringVar(&o.only, "systems", "", "comma-separated systems to run (default all): "+systemNames())
	fs.StringVar(&o.python, "python", "/usr/bin/python3", "the Python that has python3-mitogen")
	fs.StringVar(&o.child, "child", "", `binary for Spindle contexts and floor processes: "" builds bench/child, "self" uses this binary`)
	fs.BoolVar(&o.ssh, "ssh", true, "run the SSH systems against a private sshd on 127.0.0.1 when sshd is installed")
	fs.BoolVar(&o.docker, "docker", true, "run the docker systems in a busybox container when a Docker engine answers (as root)")
	fs.StringVar(&o.profile, "profile", "", "after the measured run, write CPU profiles per Go system (harness and context side) to this directory")
	fs.StringVar(&o.profWork, "profile-workloads", "", "comma-separated steady workloads of the profile pass (default all): rtt, pingpong, oneway, bulk")
	fs.DurationVar(&o.limit, "limit", 0, "time limit for one warm-up or round of one system (default 30s quick, 2m full)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.limit <= 0 {
		o.limit = 2 * time.Minute
		if o.quick {
			o.limit = 30 * time.Second
		}
	}
	return o, nil
}

func systemNames() string {
	var names []string
	for _, s := range systems {
		names = append(names, strings.ReplaceAll(s.name, " ", ""))
	}
	return strings.Join(names, ", ")
}

// selectSystems returns the systems named in a -systems list ("" is all).
// Names are compared without spaces: "spindle(socketpair)".
func selectSystems(list string) ([]*system, error) {
	if list == "" {
		return systems, nil
	}
	var out []*system
	for _, want := range strings.Split(list, ",") {
		want = strings.ReplaceAll(strings.TrimSpace(want), " ", "")
		found := false
		for _, s := range systems {
			if strings.ReplaceAll(s.name, " ", "") == want {
				out = append(out, s)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown system %q (have %s)", want, systemNames())
		}
	}
	return out, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return 2
	}
	chosen, err := selectSystems(o.only)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	plan := fullPlan
	if o.quick {
		plan = quickPlan
	}
	t0 := time.Now()
	tmp, err := os.MkdirTemp("", "spindle-bench-")
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	e := &env{plan: plan, exe: exe, python: o.python, noSSH: !o.ssh, noDocker: !o.docker}
	e.log = func(name, format string, args ...any) {
		fmt.Fprintf(stderr, "[%6.1fs] %s: %s\n", time.Since(t0).Seconds(), name, fmt.Sprintf(format, args...))
	}
	var childNote string
	e.child, childNote = childBinary(context.Background(), o.child, exe, tmp)
	e.log("run", "children: %s", childNote)
	rep := &Report{Meta: Meta{Date: t0, Mode: plan.Mode, Rounds: plan.Rounds, Load: loadAverage(), Children: childNote}}
	rep.Results = runAll(context.Background(), e, chosen, o.limit)
	if o.profile != "" {
		if err := profileSystems(context.Background(), e, chosen, o.profile, o.profWork); err != nil {
			fmt.Fprintln(stderr, "bench: profile:", err)
		}
	}
	e.close()
	rep.Meta.Elapsed = time.Since(t0)
	rep.Meta.Machine, rep.Meta.Software = describeMachine(e)
	rep.Meta.Command = reproduceCommand(o)
	return writeOutputs(rep, o, stdout, stderr)
}

func writeOutputs(rep *Report, o options, stdout, stderr io.Writer) int {
	code := 0
	if err := rep.Markdown(stdout); err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		code = 1
	}
	write := func(path string, render func(io.Writer) error) {
		if path == "" {
			return
		}
		f, err := os.Create(path)
		if err == nil {
			err = render(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			code = 1
		}
	}
	write(o.mdPath, rep.Markdown)
	write(o.jsonPath, rep.JSON)
	for _, r := range rep.Results {
		if r.Failed != "" {
			code = 1
		}
	}
	return code
}

func reproduceCommand(o options) string {
	cmd := "bench/setup.sh && (cd bench && go run ."
	if o.quick {
		cmd += " -quick"
	}
	return cmd + " -json results.json)"
}
