package ssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyPolicy says what happens to a host key that known_hosts does not
// vouch for.
type HostKeyPolicy int

const (
	// HostKeyDefault follows StrictHostKeyChecking in ssh_config
	// ("accept-new" accepts new keys; "no" is treated as accept-new, a
	// changed key is never accepted), and is HostKeyStrict otherwise.
	HostKeyDefault HostKeyPolicy = iota
	// HostKeyStrict refuses unknown and changed keys (OpenSSH's
	// StrictHostKeyChecking=yes, and its behaviour without a terminal).
	HostKeyStrict
	// HostKeyAcceptNew adds the key of a host that has none in known_hosts
	// to the user's known_hosts file and refuses changed keys, like
	// OpenSSH's StrictHostKeyChecking=accept-new.
	HostKeyAcceptNew
	// HostKeyInsecureIgnore checks nothing: anyone on the path can
	// impersonate the host. It is logged at Warn on every connection.
	HostKeyInsecureIgnore
)

func (p HostKeyPolicy) String() string {
	switch p {
	case HostKeyStrict:
		return "strict"
	case HostKeyAcceptNew:
		return "accept-new"
	case HostKeyInsecureIgnore:
		return "insecure-ignore"
	}
	return "default"
}

// HostKeyQuestion is what Options.HostKeyPrompt is asked about: a host
// key that no known_hosts file has for the host (an unknown host).
type HostKeyQuestion struct {
	Host        string // the name looked up in known_hosts ("[h]:2222")
	KeyType     string // the type of the key the server presented
	Fingerprint string // its SHA256 fingerprint, as ssh-keygen -l prints it
}

// HostKeyDecision is Options.HostKeyPrompt's answer.
type HostKeyDecision int

const (
	// HostKeyReject refuses the key: the start fails with ErrUnknownHost.
	HostKeyReject HostKeyDecision = iota
	// HostKeyAcceptOnce accepts the key for this connection only.
	HostKeyAcceptOnce
	// HostKeyRemember accepts the key and appends it to the first
	// known_hosts file (KnownHostsFiles[0], else the configured user
	// file), as HostKeyAcceptNew does: on the host that connects, which
	// through Via is the intermediate's.
	HostKeyRemember
)

func (d HostKeyDecision) String() string {
	switch d {
	case HostKeyReject:
		return "reject"
	case HostKeyAcceptOnce:
		return "accept-once"
	case HostKeyRemember:
		return "remember"
	}
	return fmt.Sprintf("HostKeyDecision(%d)", int(d))
}

// hostKeyChecker checks the host keys of one connection attempt.
type hostKeyChecker struct {
	prompt   func(context.Context, HostKeyQuestion) (HostKeyDecision, error) // Options.HostKeyPrompt
	ctx      context.Context                                                 // the connection's, for prompt
	policy   HostKeyPolicy
	files    []string // known_hosts files that exist
	userFile string   // where accepted new keys go
	hash     bool     // hash host names written to userFile
	db       ssh.HostKeyCallback
	log      *slog.Logger
}

// newHostKeyChecker reads the known_hosts files. files (from the options)
// replaces the configured user and system files when not empty.
func newHostKeyChecker(policy HostKeyPolicy, t sshTarget, files []string, log *slog.Logger) (*hostKeyChecker, error) {
	if policy == HostKeyDefault {
		switch t.StrictHostKey {
		case "accept-new":
			policy = HostKeyAcceptNew
		case "no", "off":
			policy = HostKeyAcceptNew
			log.Warn("ssh: StrictHostKeyChecking=no is treated as accept-new: changed host keys are still refused", "host", t.Alias)
		default:
			policy = HostKeyStrict
		}
	}
	h := &hostKeyChecker{policy: policy, hash: t.HashKnownHosts, log: log}
	candidates := files
	if len(candidates) == 0 {
		candidates = append(append([]string(nil), t.UserKnownHosts...), t.SysKnownHosts...)
		if len(t.UserKnownHosts) > 0 {
			h.userFile = t.UserKnownHosts[0]
		}
	} else {
		h.userFile = files[0]
	}
	for _, f := range candidates {
		if _, err := os.Stat(f); err == nil {
			h.files = append(h.files, f)
		}
	}
	if policy == HostKeyInsecureIgnore {
		return h, nil
	}
	db, err := knownhosts.New(h.files...)
	if err != nil {
		return nil, fmt.Errorf("spawn: known_hosts: %w", err)
	}
	h.db = db
	return h, nil
}

// callback returns the HostKeyCallback for a host looked up as name.
func (h *hostKeyChecker) callback(name string) ssh.HostKeyCallback {
	return func(_ string, remote net.Addr, key ssh.PublicKey) error {
		return h.check(name, remote, key)
	}
}

func (h *hostKeyChecker) check(name string, remote net.Addr, key ssh.PublicKey) error {
	fp := ssh.FingerprintSHA256(key)
	if h.policy == HostKeyInsecureIgnore {
		h.log.Warn("ssh: host key NOT checked (HostKeyInsecureIgnore)", "host", name, "key", key.Type()+" "+fp)
		return nil
	}
	err := h.db(name, remote, key)
	if err == nil {
		return nil
	}
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		return &HostKeyError{Host: knownhosts.Normalize(name), KeyType: key.Type(), Fingerprint: fp, Revoked: true,
			Known: []string{fmt.Sprintf("%s:%d", re.Revoked.Filename, re.Revoked.Line)}, Files: h.files}
	case errors.As(err, &ke) && len(ke.Want) > 0:
		var known []string
		for _, k := range ke.Want {
			known = append(known, fmt.Sprintf("%s:%d (%s %s)", k.Filename, k.Line, k.Key.Type(), ssh.FingerprintSHA256(k.Key)))
		}
		return &HostKeyError{Host: knownhosts.Normalize(name), KeyType: key.Type(), Fingerprint: fp, Known: known, Files: h.files}
	case errors.As(err, &ke) && h.prompt != nil:
		return h.ask(name, key, fp)
	case errors.As(err, &ke):
		if h.policy == HostKeyAcceptNew && h.userFile != "" {
			if err := h.remember(name, key); err != nil {
				return err
			}
			h.log.Info("ssh: new host key added to known_hosts", "host", name, "key", key.Type()+" "+fp, "file", h.userFile)
			return nil
		}
		return &HostKeyError{Host: knownhosts.Normalize(name), KeyType: key.Type(), Fingerprint: fp, Files: h.files}
	}
	return fmt.Errorf("spawn: known_hosts: %w", err)
}

// ask runs Options.HostKeyPrompt about the unknown key of name.
func (h *hostKeyChecker) ask(name string, key ssh.PublicKey, fp string) error {
	q := HostKeyQuestion{Host: knownhosts.Normalize(name), KeyType: key.Type(), Fingerprint: fp}
	ctx := h.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	d, err := h.prompt(ctx, q)
	if err != nil {
		h.log.Warn("ssh: host key prompt failed: the key is refused", "host", name, "key", key.Type()+" "+fp, "err", err)
		d = HostKeyReject
	}
	switch d {
	case HostKeyAcceptOnce:
		h.log.Info("ssh: unknown host key accepted for this connection by the prompt", "host", name, "key", key.Type()+" "+fp)
		return nil
	case HostKeyRemember:
		if h.userFile == "" {
			return fmt.Errorf("spawn: known_hosts: no file to remember the key of %s in", q.Host)
		}
		if err := h.remember(name, key); err != nil {
			return err
		}
		h.log.Info("ssh: host key added to known_hosts by the prompt", "host", name, "key", key.Type()+" "+fp, "file", h.userFile)
		return nil
	}
	return &HostKeyError{Host: q.Host, KeyType: q.KeyType, Fingerprint: fp, Files: h.files, Rejected: true}
}

// remember appends a line for name and key to the user's known_hosts.
func (h *hostKeyChecker) remember(name string, key ssh.PublicKey) error {
	host := knownhosts.Normalize(name)
	if h.hash {
		host = knownhosts.HashHostname(host)
	}
	line := knownhosts.Line([]string{host}, key) + "\n"
	if err := os.MkdirAll(filepath.Dir(h.userFile), 0o700); err != nil {
		return fmt.Errorf("spawn: known_hosts: %w", err)
	}
	f, err := os.OpenFile(h.userFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("spawn: known_hosts: %w", err)
	}
	_, err = f.WriteString(line) // one write: concurrent appends stay whole lines
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spawn: known_hosts: %w", err)
	}
	return nil
}

// algorithms returns the host key algorithms of the keys known for name,
// so that the server is asked for a key we can check (as OpenSSH does);
// nil lets x/crypto/ssh choose.
func (h *hostKeyChecker) algorithms(name string) []string {
	if h.db == nil {
		return nil
	}
	// Ask the database about a key it cannot know: the error lists the
	// keys it has for name.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if !errors.As(h.db(name, &net.TCPAddr{IP: net.IPv4zero}, probe), &ke) || len(ke.Want) == 0 {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	add := func(a ...string) {
		for _, x := range a {
			if !seen[x] {
				seen[x] = true
				algos = append(algos, x)
			}
		}
	}
	for _, k := range ke.Want {
		switch k.Key.Type() {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		default:
			add(k.Key.Type())
		}
	}
	return algos
}
