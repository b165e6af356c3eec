package ssh

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sshconfig "github.com/kevinburke/ssh_config"
)

// sshConfigFiles is the parsed OpenSSH client configuration: the user's
// file, then the system's, first value wins (as in ssh_config(5)).
type sshConfigFiles struct {
	files   []*sshconfig.Config
	names   []string
	skipped []error // default files that could not be parsed (logged)
}

// loadSSHConfig reads the configuration. path "" means ~/.ssh/config and
// /etc/ssh/ssh_config (either may be missing, and one the parser cannot
// read, for example for a "Match exec", is skipped and reported in
// skipped); "none" means no configuration; anything else is the only file
// read, like ssh -F, and must parse.
func loadSSHConfig(path string) (*sshConfigFiles, error) {
	c := &sshConfigFiles{}
	var paths []string
	switch path {
	case "none":
		return c, nil
	case "":
		if home, err := os.UserHomeDir(); err == nil {
			paths = append(paths, filepath.Join(home, ".ssh", "config"))
		}
		paths = append(paths, "/etc/ssh/ssh_config")
	default:
		paths = []string{expandHome(path)}
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) && path == "" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("spawn: ssh config: %w", err)
		}
		cfg, err := sshconfig.DecodeBytes(data)
		if err != nil {
			err = fmt.Errorf("spawn: ssh config %s: %w", p, err)
			if path == "" { // a default file OpenSSH could read and we cannot
				c.skipped = append(c.skipped, err)
				continue
			}
			return nil, err
		}
		c.files = append(c.files, cfg)
		c.names = append(c.names, p)
	}
	return c, nil
}

// get returns the first value of key for host alias, or "".
func (c *sshConfigFiles) get(alias, key string) string {
	for _, f := range c.files {
		if v, err := f.Get(alias, key); err == nil && v != "" {
			return v
		}
	}
	return ""
}

// getAll returns every value of key for alias across the files.
func (c *sshConfigFiles) getAll(alias, key string) []string {
	var all []string
	for _, f := range c.files {
		if v, err := f.GetAll(alias, key); err == nil {
			all = append(all, v...)
		}
	}
	return all
}

// sshTarget is one host to connect to, with the OpenSSH configuration
// applied.
type sshTarget struct {
	Alias          string // as the caller named it
	HostName       string // to dial
	Port           int
	User           string
	IdentityFiles  []string
	IdentitiesOnly bool
	IdentityAgent  string   // socket path, "none", or "" for $SSH_AUTH_SOCK
	ProxyJump      []string // jump host specs, first hop first
	UserKnownHosts []string
	SysKnownHosts  []string
	StrictHostKey  string // StrictHostKeyChecking as configured
	HashKnownHosts bool
	HostKeyAlias   string
	ConnectTimeout time.Duration
}

// Addr returns host:port to dial.
func (t sshTarget) Addr() string { return net.JoinHostPort(t.HostName, strconv.Itoa(t.Port)) }

// KnownHostsName returns the address looked up in known_hosts.
func (t sshTarget) KnownHostsName() string {
	if t.HostKeyAlias != "" {
		return net.JoinHostPort(t.HostKeyAlias, strconv.Itoa(t.Port))
	}
	return t.Addr()
}

// String names the target for messages: user@host:port.
func (t sshTarget) String() string { return t.User + "@" + t.Addr() }

// parseHostSpec splits "[user@]host[:port]" (IPv6 hosts in brackets).
func parseHostSpec(spec string) (userName, host string, port int, err error) {
	if spec == "" {
		return "", "", 0, errors.New("spawn: empty ssh host")
	}
	if i := strings.LastIndex(spec, "@"); i >= 0 {
		userName, spec = spec[:i], spec[i+1:]
	}
	host = spec
	if strings.HasPrefix(spec, "[") || strings.Count(spec, ":") == 1 {
		h, p, splitErr := net.SplitHostPort(spec)
		switch {
		case splitErr == nil:
			host = h
			port, err = strconv.Atoi(p)
			if err != nil || port <= 0 || port > 65535 {
				return "", "", 0, fmt.Errorf("spawn: ssh host %q: bad port %q", spec, p)
			}
		case strings.HasPrefix(spec, "[") && strings.HasSuffix(spec, "]"):
			host = spec[1 : len(spec)-1]
		default:
			return "", "", 0, fmt.Errorf("spawn: ssh host %q: %v", spec, splitErr)
		}
	}
	if host == "" || strings.ContainsAny(host, " \t\n/") {
		return "", "", 0, fmt.Errorf("spawn: bad ssh host %q", spec)
	}
	return userName, host, port, nil
}

// resolveTarget applies the configuration to spec ("[user@]host[:port]" or
// a Host alias). A user or port in spec wins over the configuration, which
// wins over the defaults (the local user name, port 22).
func resolveTarget(cfg *sshConfigFiles, spec string) (sshTarget, error) {
	userName, alias, port, err := parseHostSpec(spec)
	if err != nil {
		return sshTarget{}, err
	}
	t := sshTarget{Alias: alias, HostName: alias, Port: port, User: userName}
	if hn := cfg.get(alias, "HostName"); hn != "" {
		t.HostName = expandTokens(hn, map[byte]string{'h': alias})
	}
	if t.Port == 0 {
		if p := cfg.get(alias, "Port"); p != "" {
			if t.Port, err = strconv.Atoi(p); err != nil || t.Port <= 0 || t.Port > 65535 {
				return sshTarget{}, fmt.Errorf("spawn: ssh config: host %s: bad Port %q", alias, p)
			}
		} else {
			t.Port = 22
		}
	}
	if t.User == "" {
		t.User = cfg.get(alias, "User")
	}
	if t.User == "" {
		t.User = localUser()
	}
	tokens := map[byte]string{'h': t.HostName, 'n': alias, 'p': strconv.Itoa(t.Port), 'r': t.User,
		'u': localUser(), 'd': homeDir()}
	for _, f := range cfg.getAll(alias, "IdentityFile") {
		t.IdentityFiles = append(t.IdentityFiles, expandPath(f, tokens))
	}
	t.IdentitiesOnly = isYes(cfg.get(alias, "IdentitiesOnly"))
	if a := cfg.get(alias, "IdentityAgent"); a != "" {
		t.IdentityAgent = a
		if a != "none" && a != "SSH_AUTH_SOCK" {
			t.IdentityAgent = expandPath(a, tokens)
		}
		if a == "SSH_AUTH_SOCK" {
			t.IdentityAgent = ""
		}
	}
	if pj := cfg.get(alias, "ProxyJump"); pj != "" && pj != "none" {
		for _, hop := range strings.Split(pj, ",") {
			t.ProxyJump = append(t.ProxyJump, strings.TrimPrefix(strings.TrimSpace(hop), "ssh://"))
		}
	}
	t.UserKnownHosts = knownHostsList(cfg.get(alias, "UserKnownHostsFile"), "~/.ssh/known_hosts ~/.ssh/known_hosts2", tokens)
	t.SysKnownHosts = knownHostsList(cfg.get(alias, "GlobalKnownHostsFile"), "/etc/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts2", tokens)
	t.StrictHostKey = strings.ToLower(cfg.get(alias, "StrictHostKeyChecking"))
	t.HashKnownHosts = isYes(cfg.get(alias, "HashKnownHosts"))
	t.HostKeyAlias = cfg.get(alias, "HostKeyAlias")
	if ct := cfg.get(alias, "ConnectTimeout"); ct != "" {
		if secs, err := strconv.Atoi(ct); err == nil && secs > 0 {
			t.ConnectTimeout = time.Duration(secs) * time.Second
		}
	}
	return t, nil
}

func knownHostsList(configured, def string, tokens map[byte]string) []string {
	if configured == "" {
		configured = def
	}
	if configured == "none" || configured == "/dev/null" {
		return nil
	}
	var out []string
	for _, f := range strings.Fields(configured) {
		out = append(out, expandPath(f, tokens))
	}
	return out
}

func isYes(v string) bool {
	switch strings.ToLower(v) {
	case "yes", "true", "on":
		return true
	}
	return false
}

// expandPath expands a leading ~, %-tokens and ${VAR} in a path from the
// configuration, as ssh_config(5) describes.
func expandPath(p string, tokens map[byte]string) string {
	p = os.Expand(expandTokens(p, tokens), func(name string) string { return os.Getenv(name) })
	return expandHome(p)
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		return filepath.Join(homeDir(), p[1:])
	}
	return p
}

// expandTokens replaces %x with tokens[x] and %% with %. Unknown tokens
// stay as they are.
func expandTokens(s string, tokens map[byte]string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		if s[i] == '%' {
			b.WriteByte('%')
		} else if v, ok := tokens[s[i]]; ok {
			b.WriteString(v)
		} else {
			b.WriteByte('%')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func localUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return os.Getenv("USER")
}

func homeDir() string {
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "/"
}
