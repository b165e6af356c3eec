package ssh_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn/ssh"
)

// ExampleSSH starts a context on an SSH host, as OpenSSH would connect
// (~/.ssh/config, ssh-agent, known_hosts), runs an actor there and shuts
// it down. It needs a host, so it is compiled but not run by go test.
func ExampleStart() {
	node, err := actors.NewNode(actors.Config{Name: "root", Setup: setup})
	if err != nil {
		panic(err)
	}
	defer node.Shutdown(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	w, err := ssh.Start(ctx, node, ssh.Options{Host: "deploy@build-7.example.com"})
	switch {
	case errors.Is(err, ssh.ErrUnknownHost), errors.Is(err, ssh.ErrHostKeyMismatch):
		fmt.Println("host key not trusted:", err) // the fingerprint is in err
		return
	case errors.Is(err, ssh.ErrAuthFailed):
		fmt.Println("no credentials accepted:", err)
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	defer w.Shutdown(ctx)
	fmt.Println("running on", w.Info().Boot.Platform, "cached:", w.Info().Boot.CacheHit)
	pid, err := w.Spawn(ctx, "echo", "echo")
	if err != nil {
		fmt.Println(err)
		return
	}
	pong, err := actors.Request[*Pong](ctx, node, pid, &Ping{N: 1})
	if errors.Is(err, actors.ErrContextDead) {
		fmt.Println("the SSH context died:", err) // exit status, lost connection, heartbeat
		return
	}
	fmt.Println(pong.N, err)
}
