// Command bastion starts a chain of contexts, each through the one before
// it (Mitogen's via=), talks to the last one directly, then kills the
// first and shows IS_DEAD reaching the root for everything behind it.
//
// With no arguments it runs on this machine alone: the root starts
// "bastion" (a local process), asks the bastion to start "inner" through
// a command prefix (the bootstrap runs on the bastion, which uploads its
// own binary), and asks "inner" to start "app" (a local process there).
// Each process is the child of the one before it, and after the kill no
// process is left.
//
// Given hosts, the chain crosses a network (docs/via.md):
//
//	bastion -bastion admin@bastion.example:22 -identity ~/.ssh/id_ed25519 \
//	        -inner deploy@10.0.0.7 -inner-identity /home/admin/.ssh/id_inner \
//	        -sudo
//
// runs root -> ssh bastion -> ssh inner (dialled by the bastion's process,
// not ProxyJump: the inner host needs to be reachable from the bastion
// only) -> sudo root on inner (the password, if sudo asks one, from
// $SPINDLE_SUDO_PASSWORD, asked at the root) -> app. -inner-identity and
// -inner-known-hosts are paths on the bastion host.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/command"
	"github.com/spindle-go/spindle/spawn/ssh"
	"github.com/spindle-go/spindle/spawn/sudo"
)

// Where asks a context's "where" actor about its process.
type Where struct{}

// Here is its answer.
type Here struct {
	Context   string
	Pid, PPid int
	UID       int
}

func setup(n *actors.Node) error {
	if err := actors.RegisterType[Where](n, "bastion.Where"); err != nil {
		return err
	}
	if err := actors.RegisterType[Here](n, "bastion.Here"); err != nil {
		return err
	}
	n.RegisterKind("where", actor.PropsFromFunc(func(c actor.Context) {
		if _, ok := c.Message().(*Where); ok {
			c.Respond(&Here{Context: n.Name(), Pid: os.Getpid(), PPid: os.Getppid(), UID: os.Getuid()})
		}
	}))
	return nil
}

// config says where the chain goes; the zero value runs on this machine.
type config struct {
	Bastion, Inner       string // user@host[:port]; "" for the local chain
	Identity, KnownHosts string // for the bastion, at the root
	InnerIdentity        string // for the inner host, on the bastion
	InnerKnownHosts      string // on the bastion
	Sudo                 bool   // sudo to root on the inner host
	SudoPassword         sudo.Password
	SSHConfig, Agent     string // ssh.Options.ConfigFile and Agent of both SSH hops ("none": none)
	CachePrefix          string // remote hops cache binaries in CachePrefix-<hop>; "": the defaults
	Env                  []string
	// The root's heartbeat (0: the defaults), adopted by every hop.
	HeartbeatInterval, HeartbeatTimeout time.Duration
}

func main() {
	spawn.Main(setup)
	var cfg config
	flag.StringVar(&cfg.Bastion, "bastion", "", "`user@host[:port]` of the bastion (empty: a local chain on this machine)")
	flag.StringVar(&cfg.Inner, "inner", "", "`user@host[:port]` of the inner host, as the bastion reaches it")
	flag.StringVar(&cfg.Identity, "identity", "", "private key `file` for the bastion (default: the agent and ~/.ssh)")
	flag.StringVar(&cfg.KnownHosts, "known-hosts", "", "known_hosts `file` for the bastion (default ~/.ssh/known_hosts)")
	flag.StringVar(&cfg.InnerIdentity, "inner-identity", "", "private key `file` on the bastion for the inner host")
	flag.StringVar(&cfg.InnerKnownHosts, "inner-known-hosts", "", "known_hosts `file` on the bastion for the inner host")
	flag.BoolVar(&cfg.Sudo, "sudo", false, "sudo to root on the inner host ($SPINDLE_SUDO_PASSWORD if sudo asks)")
	flag.StringVar(&cfg.SSHConfig, "ssh-config", "", "ssh config `file` for both SSH hops (\"none\": none; default ~/.ssh/config)")
	flag.StringVar(&cfg.Agent, "agent", "", "ssh-agent `socket` (\"none\": no agent; default $SSH_AUTH_SOCK)")
	flag.StringVar(&cfg.CachePrefix, "cache", "", "binary cache `prefix` on the remote hosts (default: the bootstrap's)")
	flag.Parse()
	if pw, ok := os.LookupEnv("SPINDLE_SUDO_PASSWORD"); ok {
		cfg.SudoPassword = sudo.StaticPassword(pw)
	}
	if err := run(os.Stdout, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bastion:", err)
		os.Exit(1)
	}
}

func run(out io.Writer, cfg config) error {
	if (cfg.Bastion == "") != (cfg.Inner == "") {
		return errors.New("give both -bastion and -inner, or neither")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := actors.NewNode(actors.Config{Name: "root", Setup: setup,
		HeartbeatInterval: cfg.HeartbeatInterval, HeartbeatTimeout: cfg.HeartbeatTimeout,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		return err
	}
	defer root.Shutdown(context.Background())
	var hops []spawn.Child
	if cfg.Bastion == "" {
		cache, err := os.MkdirTemp("", "spindle-bastion-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(cache)
		hops, err = spawn.Chain(ctx, root, localSteps(cfg, cache)...)
		if err != nil {
			return err
		}
	} else {
		steps, err := sshSteps(cfg)
		if err != nil {
			return err
		}
		if hops, err = spawn.Chain(ctx, root, steps...); err != nil {
			return err
		}
	}
	var pids []int
	chain := true
	for i, c := range hops {
		h, err := where(ctx, root, c)
		if err != nil {
			return err
		}
		by := "the root"
		if v := c.Info().Via; v != 0 {
			by = fmt.Sprintf("ctx-%d", v)
		}
		chain = chain && (i == 0 || c.Info().Via == hops[i-1].ID())
		fmt.Fprintf(out, "%-10s ctx-%d  pid %d  parent %d  uid %d  via %-7s  started by %s\n",
			h.Context, c.ID(), h.Pid, h.PPid, h.UID, c.Info().Method, by)
		pids = append(pids, h.Pid)
		if cfg.Bastion == "" && i > 0 { // one machine: each process is the child of the one before
			chain = chain && h.PPid == pids[i-1]
		}
	}
	fmt.Fprintln(out, "chain:", chain)

	bastion := hops[0]
	fmt.Fprintln(out, "killing the bastion")
	if err := bastion.Kill(); err != nil {
		return err
	}
	for _, c := range hops[1:] {
		select {
		case <-c.Dead():
		case <-ctx.Done():
			return fmt.Errorf("%s not declared dead", c.Name())
		}
		fmt.Fprintf(out, "%s: errors.Is(reason, actors.ErrContextDead) = %v\n", c.Name(), errors.Is(c.DeadReason(), actors.ErrContextDead))
	}
	if cfg.Bastion != "" {
		fmt.Fprintln(out, "the contexts behind the bastion exit when their parent's link closes (docs/via.md)")
		return nil
	}
	for _, p := range pids {
		for running(p) {
			if ctx.Err() != nil {
				return fmt.Errorf("process %d left behind", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	fmt.Fprintln(out, "no process left")
	return nil
}

// localSteps: bastion (a local process), inner (through a command prefix,
// run by the bastion: in a real deployment `ssh inner-host` or `sudo -u
// app`), app (a local process of inner).
func localSteps(cfg config, cache string) []spawn.Step {
	return []spawn.Step{
		spawn.LocalStep(spawn.Options{Common: spawn.Common{Name: "bastion", Env: cfg.Env}}),
		command.Step(command.Options{
			Common:    spawn.Common{Name: "inner", Env: cfg.Env},
			Argv:      []string{"env"},
			Bootstrap: spawn.Bootstrap{CacheDirs: []string{cache}},
		}),
		spawn.LocalStep(spawn.Options{Common: spawn.Common{Name: "app", Env: cfg.Env}}),
	}
}

// sshSteps: ssh bastion, ssh inner (dialled by the bastion), sudo root on
// inner (with -sudo), app (a local process of the last).
func sshSteps(cfg config) ([]spawn.Step, error) {
	cache := func(hop string) []string {
		if cfg.CachePrefix == "" {
			return nil
		}
		return []string{cfg.CachePrefix + "-" + hop}
	}
	files := func(f string) []string {
		if f == "" {
			return nil
		}
		return []string{f}
	}
	steps := []spawn.Step{
		ssh.Step(ssh.Options{Common: spawn.Common{Name: "bastion", Env: cfg.Env}, Host: cfg.Bastion,
			ConfigFile: cfg.SSHConfig, Agent: cfg.Agent,
			IdentityFiles: files(cfg.Identity), KnownHostsFiles: files(cfg.KnownHosts),
			Bootstrap: spawn.Bootstrap{CacheDirs: cache("bastion")}}),
		ssh.Step(ssh.Options{Common: spawn.Common{Name: "inner", Env: cfg.Env}, Host: cfg.Inner,
			ConfigFile: cfg.SSHConfig, Agent: cfg.Agent,
			IdentityFiles: files(cfg.InnerIdentity), KnownHostsFiles: files(cfg.InnerKnownHosts),
			Bootstrap: spawn.Bootstrap{CacheDirs: cache("inner")}}),
	}
	if cfg.Sudo {
		tgt, err := sudo.Sudo(&sudo.Host{}, sudo.Options{Auth: sudo.Auth{Password: cfg.SudoPassword}})
		if err != nil {
			return nil, err
		}
		steps = append(steps, spawn.TargetStep(tgt, spawn.Common{Name: "root@inner", Env: cfg.Env},
			spawn.Bootstrap{CacheDirs: cache("sudo")}))
	}
	return append(steps, spawn.LocalStep(spawn.Options{Common: spawn.Common{Name: "app", Env: cfg.Env}})), nil
}

func where(ctx context.Context, root *actors.Node, c spawn.Child) (*Here, error) {
	pid, err := c.Spawn(ctx, "where", "")
	if err != nil {
		return nil, err
	}
	return actors.Request[*Here](ctx, root, pid, &Where{})
}

// stat returns the fields of /proc/PID/stat after the command name.
func stat(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
}

// running reports whether pid runs (a zombie counts as gone).
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	f := stat(pid)
	return len(f) > 0 && f[0] != "Z"
}
