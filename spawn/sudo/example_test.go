package sudo_test

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spindle-go/spindle/spawn/runner"
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
