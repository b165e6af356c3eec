package ssh

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// defaultIdentityFiles are tried, like OpenSSH, when neither the options
// nor the configuration name an identity file.
var defaultIdentityFiles = []string{"id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk"}

// authenticator builds the authentication methods for one host and closes
// the agent connection it opened.
type authenticator struct {
	user, host string
	log        *slog.Logger
	agentConn  net.Conn
	files      []string
	only       bool // IdentitiesOnly: agent keys only if they match a file
	passphrase func(file string) ([]byte, error)
	password   func(user, host string) (string, error)
}

// newAuthenticator prepares agent, key files and callbacks for target t.
// agentSock "" means the configured IdentityAgent or $SSH_AUTH_SOCK; "none"
// disables the agent.
func newAuthenticator(t sshTarget, opts *Options, log *slog.Logger) *authenticator {
	a := &authenticator{user: t.User, host: t.Alias, log: log, only: t.IdentitiesOnly,
		passphrase: opts.Passphrase, password: opts.Password}
	files := append(append([]string(nil), opts.IdentityFiles...), t.IdentityFiles...)
	if len(files) == 0 {
		for _, f := range defaultIdentityFiles {
			files = append(files, filepath.Join(homeDir(), ".ssh", f))
		}
	}
	a.files = files
	sock := opts.Agent
	if sock == "" {
		sock = t.IdentityAgent
	}
	if sock == "" {
		sock = os.Getenv("SSH_AUTH_SOCK")
	}
	if sock != "" && sock != "none" {
		c, err := net.Dial("unix", sock)
		if err != nil {
			log.Debug("ssh: agent unavailable", "socket", sock, "err", err)
		} else {
			a.agentConn = c
		}
	}
	return a
}

// methods returns the methods in OpenSSH's order: public keys (agent
// first, then files), then password and keyboard-interactive when a
// password callback is set.
func (a *authenticator) methods() []ssh.AuthMethod {
	m := []ssh.AuthMethod{ssh.PublicKeysCallback(a.signers)}
	if a.password != nil {
		m = append(m,
			ssh.PasswordCallback(func() (string, error) { return a.password(a.user, a.host) }),
			ssh.KeyboardInteractive(a.keyboardInteractive))
	}
	return m
}

// keyboardInteractive answers the prompts that do not echo (password
// prompts) with the password callback, and the others with nothing.
func (a *authenticator) keyboardInteractive(_, _ string, questions []string, echos []bool) ([]string, error) {
	answers := make([]string, len(questions))
	for i := range questions {
		if echos[i] {
			continue
		}
		pw, err := a.password(a.user, a.host)
		if err != nil {
			return nil, err
		}
		answers[i] = pw
	}
	return answers, nil
}

// signers returns the agent's keys, then the identity files' keys.
// Encrypted files cost no passphrase until the server accepts their
// public key.
func (a *authenticator) signers() ([]ssh.Signer, error) {
	var fromFiles []ssh.Signer
	for _, f := range a.files {
		s, err := a.loadKey(f)
		if err != nil {
			a.log.Debug("ssh: identity file skipped", "file", f, "err", err)
			continue
		}
		fromFiles = append(fromFiles, s)
	}
	var out []ssh.Signer
	if a.agentConn != nil {
		agentSigners, err := agent.NewClient(a.agentConn).Signers()
		if err != nil {
			a.log.Debug("ssh: agent keys unavailable", "err", err)
		}
		for _, s := range agentSigners {
			if a.only && !containsKey(fromFiles, s.PublicKey()) {
				continue
			}
			out = append(out, s)
		}
	}
	for _, s := range fromFiles {
		if !containsKey(out, s.PublicKey()) {
			out = append(out, s)
		}
	}
	return out, nil
}

func containsKey(signers []ssh.Signer, k ssh.PublicKey) bool {
	for _, s := range signers {
		if bytes.Equal(s.PublicKey().Marshal(), k.Marshal()) {
			return true
		}
	}
	return false
}

// loadKey reads a private key file. An encrypted key becomes a signer that
// asks for the passphrase when it first signs.
func (a *authenticator) loadKey(file string) (ssh.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(data)
	if err == nil {
		return s, nil
	}
	var missing *ssh.PassphraseMissingError
	if !errors.As(err, &missing) {
		return nil, err
	}
	if a.passphrase == nil {
		return nil, errors.New("encrypted and no Passphrase callback")
	}
	pub := missing.PublicKey
	if pub == nil {
		pubData, err := os.ReadFile(file + ".pub")
		if err != nil {
			return nil, fmt.Errorf("encrypted, and its public key is not in %s.pub: %w", file, err)
		}
		if pub, _, _, _, err = ssh.ParseAuthorizedKey(pubData); err != nil {
			return nil, fmt.Errorf("%s.pub: %w", file, err)
		}
	}
	return &lazySigner{pub: pub, file: file, data: data, passphrase: a.passphrase}, nil
}

// close closes the agent connection, if any.
func (a *authenticator) close() {
	if a.agentConn != nil {
		_ = a.agentConn.Close()
	}
}

// lazySigner is an encrypted private key that is decrypted on first use.
type lazySigner struct {
	pub        ssh.PublicKey
	file       string
	data       []byte
	passphrase func(file string) ([]byte, error)

	once   sync.Once
	signer ssh.Signer
	err    error
}

var _ ssh.MultiAlgorithmSigner = (*lazySigner)(nil)

func (l *lazySigner) PublicKey() ssh.PublicKey { return l.pub }

func (l *lazySigner) unlock() (ssh.Signer, error) {
	l.once.Do(func() {
		pass, err := l.passphrase(l.file)
		if err != nil {
			l.err = fmt.Errorf("spawn: passphrase for %s: %w", l.file, err)
			return
		}
		l.signer, l.err = ssh.ParsePrivateKeyWithPassphrase(l.data, pass)
		if l.err != nil {
			l.err = fmt.Errorf("spawn: decrypt %s: %w", l.file, l.err)
		}
	})
	return l.signer, l.err
}

func (l *lazySigner) Sign(rand io.Reader, data []byte) (*ssh.Signature, error) {
	s, err := l.unlock()
	if err != nil {
		return nil, err
	}
	return s.Sign(rand, data)
}

func (l *lazySigner) SignWithAlgorithm(rand io.Reader, data []byte, algorithm string) (*ssh.Signature, error) {
	s, err := l.unlock()
	if err != nil {
		return nil, err
	}
	if as, ok := s.(ssh.AlgorithmSigner); ok {
		return as.SignWithAlgorithm(rand, data, algorithm)
	}
	return s.Sign(rand, data)
}

func (l *lazySigner) Algorithms() []string {
	if l.pub.Type() == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{l.pub.Type()}
}
