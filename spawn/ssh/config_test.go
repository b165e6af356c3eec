package ssh

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseHostSpec(t *testing.T) {
	for _, tc := range []struct {
		spec, user, host string
		port             int
		bad              bool
	}{
		{"example.com", "", "example.com", 0, false},
		{"alice@example.com", "alice", "example.com", 0, false},
		{"alice@example.com:2222", "alice", "example.com", 2222, false},
		{"example.com:22", "", "example.com", 22, false},
		{"me@corp@example.com", "me@corp", "example.com", 0, false},
		{"[::1]:2200", "", "::1", 2200, false},
		{"[fe80::1]", "", "fe80::1", 0, false},
		{"root@[::1]", "root", "::1", 0, false},
		{"::1", "", "::1", 0, false},
		{"alias-name", "", "alias-name", 0, false},
		{"", "", "", 0, true},
		{"host:0", "", "", 0, true},
		{"host:65536", "", "", 0, true},
		{"host:abc", "", "", 0, true},
		{"user@", "", "", 0, true},
		{"a b", "", "", 0, true},
		{"[::1", "", "", 0, true},
	} {
		user, host, port, err := parseHostSpec(tc.spec)
		if (err != nil) != tc.bad {
			t.Errorf("%q: err %v, want bad=%v", tc.spec, err, tc.bad)
			continue
		}
		if err == nil && (user != tc.user || host != tc.host || port != tc.port) {
			t.Errorf("%q: %q %q %d, want %q %q %d", tc.spec, user, host, port, tc.user, tc.host, tc.port)
		}
	}
}

func TestResolveTarget_Config(t *testing.T) {
	home := homeDir()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config")
	data := `Host web-*
  User deploy
  IdentityFile ~/.ssh/web_key
  IdentityFile %d/.ssh/web_%h_%r

Host web-1
  HostName 10.0.0.%h
  Port 2201

Host web-2
  HostName %h.internal
  ProxyJump bastion,ops@hop2:2022
  StrictHostKeyChecking accept-new
  UserKnownHostsFile /k/one /k/two
  HashKnownHosts yes
  IdentitiesOnly yes
  IdentityAgent none
  ConnectTimeout 7

Host *
  Port 2299
  User fallback
`
	if err := os.WriteFile(cfgPath, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadSSHConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	t1, err := resolveTarget(cfg, "web-1")
	if err != nil {
		t.Fatal(err)
	}
	if t1.HostName != "10.0.0.web-1" || t1.Port != 2201 || t1.User != "deploy" {
		t.Errorf("web-1: %+v", t1)
	}
	wantIDs := []string{filepath.Join(home, ".ssh/web_key"), filepath.Join(home, ".ssh/web_10.0.0.web-1_deploy")}
	if !reflect.DeepEqual(t1.IdentityFiles, wantIDs) {
		t.Errorf("web-1 identity files %q, want %q", t1.IdentityFiles, wantIDs)
	}
	if !reflect.DeepEqual(t1.UserKnownHosts, []string{filepath.Join(home, ".ssh/known_hosts"), filepath.Join(home, ".ssh/known_hosts2")}) {
		t.Errorf("default known hosts %q", t1.UserKnownHosts)
	}

	t2, err := resolveTarget(cfg, "ops@web-2:22")
	if err != nil {
		t.Fatal(err)
	}
	want := sshTarget{
		Alias: "web-2", HostName: "web-2.internal", Port: 22, User: "ops",
		IdentityFiles:  []string{filepath.Join(home, ".ssh/web_key"), filepath.Join(home, ".ssh/web_web-2.internal_ops")},
		IdentitiesOnly: true, IdentityAgent: "none",
		ProxyJump:      []string{"bastion", "ops@hop2:2022"},
		UserKnownHosts: []string{"/k/one", "/k/two"},
		SysKnownHosts:  []string{"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"},
		StrictHostKey:  "accept-new", HashKnownHosts: true, ConnectTimeout: 7 * time.Second,
	}
	if !reflect.DeepEqual(t2, want) {
		t.Errorf("web-2:\n got %+v\nwant %+v", t2, want)
	}
	t3, err := resolveTarget(cfg, "elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	if t3.HostName != "elsewhere" || t3.Port != 2299 || t3.User != "fallback" || t3.Addr() != "elsewhere:2299" {
		t.Errorf("elsewhere: %+v", t3)
	}
	none, err := loadSSHConfig("none")
	if err != nil {
		t.Fatal(err)
	}
	t4, _ := resolveTarget(none, "[::1]")
	if t4.Port != 22 || t4.User != localUser() || t4.Addr() != "[::1]:22" {
		t.Errorf("no config: %+v", t4)
	}
	if _, err := loadSSHConfig(filepath.Join(dir, "missing")); err == nil {
		t.Error("an explicit missing config file is not an error")
	}
	bad := filepath.Join(dir, "bad")
	_ = os.WriteFile(bad, []byte("Host x\n  Port notaport\n"), 0o600)
	badCfg, err := loadSSHConfig(bad)
	if err == nil {
		if _, err := resolveTarget(badCfg, "x"); err == nil || !strings.Contains(err.Error(), "Port") {
			t.Errorf("bad port: %v", err)
		}
	}
}

func TestExpandTokens(t *testing.T) {
	tok := map[byte]string{'h': "host", 'r': "root", 'd': "/home/me"}
	for in, want := range map[string]string{
		"plain":      "plain",
		"%h":         "host",
		"%d/.ssh/%r": "/home/me/.ssh/root",
		"100%%":      "100%",
		"%x stays":   "%x stays",
		"trailing %": "trailing %",
		"%h-%h":      "host-host",
	} {
		if got := expandTokens(in, tok); got != want {
			t.Errorf("expandTokens(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadSSHConfig_DefaultFileTheParserRejectsIsSkipped(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	bad := "Match exec \"true\"\n  User x\n"
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadSSHConfig("")
	if err != nil {
		t.Fatalf("default files: %v, want the bad one skipped", err)
	}
	if len(cfg.skipped) != 1 || !strings.Contains(cfg.skipped[0].Error(), ".ssh/config") {
		t.Fatalf("skipped %v, want ~/.ssh/config", cfg.skipped)
	}
	if _, err := loadSSHConfig(filepath.Join(home, ".ssh", "config")); err == nil {
		t.Fatal("the same file named explicitly parsed without error")
	}
}
