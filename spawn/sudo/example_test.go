package sudo_test

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/runner"
	"github.com/spindle-go/spindle/spawn/ssh"
	"github.com/spindle-go/spindle/spawn/sudo"
)

// ExampleSudo runs a command as postgres through sudo on this host; the
// password, if sudo asks, comes from a callback called at most once.
// Any runner.Target can take &sudo.Host{}'s place (an SSH host, a
// container), and the result can be handed to spawn.Start.
func ExampleSudo() {
	ask := func(ctx context.Context) ([]byte, error) { return os.ReadFile("/run/secrets/sudo") }
	t, err := sudo.Sudo(&sudo.Host{}, sudo.Options{User: "postgres", Auth: sudo.Auth{Password: ask}})
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := t.Runner(runner.Command{Argv: []string{"id", "-un"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := r.Start(ctx); err != nil { // errors.Is(err, sudo.ErrBadPassword), ...
		fmt.Println(err)
		return
	}
	out, _ := io.ReadAll(r.Stdout())
	_, _ = io.Copy(io.Discard, r.Stderr())
	fmt.Printf("%s %v\n", out, r.Wait(ctx))
}

// ExampleDoas runs a command as root through doas, which reads the
// password from a pty the wrapper creates on this host.
func ExampleDoas() {
	t, err := sudo.Doas(&sudo.Host{}, sudo.DoasOptions{Auth: sudo.Auth{Password: sudo.StaticPassword("secret")}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.Info().Method, t.Info().User)
	// Output: doas root
}

// ExampleSudo_throughVia starts a context as root on the host of another
// context (an SSH context, here any Hop), in one chain: the root reaches
// bastion and inner over SSH, then sudo runs on inner. The password
// callback stays at the root and is asked from inner when sudo prompts.
func ExampleSudo_throughVia() {
	ctx := context.Background()
	root, err := actors.NewNode(actors.Config{Name: "root"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer root.Shutdown(ctx)
	asRoot, err := sudo.Sudo(&sudo.Host{}, sudo.Options{Auth: sudo.Auth{Password: func(context.Context) ([]byte, error) {
		return os.ReadFile("/run/secrets/sudo")
	}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	hops, err := spawn.Chain(ctx, root,
		ssh.Step(ssh.Options{Host: "bastion"}),
		ssh.Step(ssh.Options{Host: "inner"}),
		spawn.TargetStep(asRoot, spawn.Common{Name: "root@inner"}, spawn.Bootstrap{}))
	if err != nil { // a *spawn.ChainError; errors.Is(err, sudo.ErrBadPassword), ...
		fmt.Println(err)
		return
	}
	fmt.Println(hops[2].Info().Via == hops[1].ID())
}
