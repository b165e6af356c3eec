// This file adapts spawn/ssh (issue 4, moved in issue 12) to the harness.

package main

import (
	"context"
	"sync"
	"time"

	"github.com/spindle-go/spindle/actors"
	"github.com/spindle-go/spindle/spawn"
	"github.com/spindle-go/spindle/spawn/ssh"
)

// sshLauncher starts Spindle contexts on the private sshd: strict host key
// checking against its known_hosts, its throwaway key only (no agent, no
// ~/.ssh/config), and a binary cache inside the sshd's directory. The
// spawn warm-up uploads exe, so every measured spawn is warm (a cache hit).
func sshLauncher(node *actors.Node, exe string, t sshTarget) func(context.Context, string) (spawn.Child, error) {
	var (
		once sync.Once
		bin  *spawn.Binary
	)
	return func(ctx context.Context, name string) (spawn.Child, error) {
		once.Do(func() { bin = spawn.NewBinary(exe, "") }) // hashed once, reused
		return ssh.Start(ctx, node, ssh.Options{
			Common:          spawn.Common{Name: name, Grace: time.Second},
			Bootstrap:       spawn.Bootstrap{Binaries: []*spawn.Binary{bin}, CacheDirs: []string{t.CacheDir}},
			Host:            t.Host,
			Port:            t.Port,
			User:            t.User,
			ConfigFile:      "none",
			Agent:           "none",
			IdentityFiles:   []string{t.Identity},
			KnownHostsFiles: []string{t.KnownHosts},
			HostKeyPolicy:   ssh.HostKeyStrict,
		})
	}
}
