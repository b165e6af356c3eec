package main

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSSHD_AcceptsItsKeyAndIsKnown checks the private sshd the SSH systems
// use: OpenSSH logs in with the throwaway user key and verifies the host
// key against the generated known_hosts, with strict checking on.
func TestSSHD_AcceptsItsKeyAndIsKnown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := startSSHD(ctx)
	if reason, ok := isSkip(err); ok {
		t.Skip(reason)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer s.stop()
	ssh, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no ssh client")
	}
	tg := s.target
	out, err := exec.CommandContext(ctx, ssh,
		"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+tg.KnownHosts,
		"-o", "IdentitiesOnly=yes", "-i", tg.Identity, "-p", strconv.Itoa(tg.Port),
		tg.User+"@"+tg.Host, "echo", "hello-from-sshd").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello-from-sshd") {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
}
