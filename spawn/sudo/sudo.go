package sudo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spindle-go/spindle/spawn/runner"
)

// SudoTarget runs commands through sudo on an inner target. It is safe for
// concurrent use; every Runner is independent.
type SudoTarget struct {
	inner runner.Target
	opts  Options
}

var (
	_ runner.Target = (*SudoTarget)(nil)
	_ runner.Runner = (*sudoRunner)(nil)
)

// Sudo returns a target that runs each command on inner through
// `sudo -S -p PROMPT ... -- sh -c ...`. The password (if sudo asks) travels
// on the command's stdin; the prompt is a random token sudo prints on
// stderr, so no translated prompt is ever parsed.
func Sudo(inner runner.Target, opts Options) (*SudoTarget, error) {
	if inner == nil {
		return nil, errors.New("sudo: nil inner target")
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.User = orDefault(opts.User, "root")
	opts.Path = orDefault(opts.Path, "sudo")
	opts.PreserveEnv = append([]string(nil), opts.PreserveEnv...)
	return &SudoTarget{inner: inner, opts: opts}, nil
}

// Info describes the target: method "sudo", the inner host, the target
// user. Signals reach the command when the inner target can signal (sudo
// relays them); KILL ends sudo itself (see docs/methods.md).
func (t *SudoTarget) Info() runner.Info {
	in := t.inner.Info()
	return runner.Info{Method: "sudo", Host: in.Host, User: t.opts.User,
		Caps: runner.Caps{Signal: in.Caps.Signal, SameHost: in.Caps.SameHost}}
}

// argv is the sudo command line for cmd with the given prompt and marker.
func (t *SudoTarget) argv(cmd runner.Command, prompt, marker string) []string {
	a := []string{t.opts.Path, "-S", "-p", prompt, "-u", t.opts.User}
	if t.opts.Group != "" {
		a = append(a, "-g", t.opts.Group)
	}
	if len(t.opts.PreserveEnv) > 0 {
		a = append(a, "--preserve-env="+strings.Join(t.opts.PreserveEnv, ","))
	}
	if t.opts.Login {
		// Not sudo -i: it hands the command to the login shell as one
		// string with every character escaped but '$', which the shell
		// then expands. This runs the same login shell, from the home
		// directory, with the arguments intact.
		a = append(a, "-H", "--", "sh", "-c", loginScript, "sh")
		return append(a, shellArgv(cmd, marker)...)
	}
	return append(append(a, "--"), shellArgv(cmd, marker)...)
}

// loginScript runs its arguments through the target user's login shell
// (sudo sets HOME and SHELL from the target user's account).
const loginScript = `cd "$HOME" || exit 1; exec "$SHELL" -l -c 'exec "$0" "$@"' "$@"`

// shellArgv is `sh -c PREAMBLE MARKER [DIR] [env NAME=VALUE...] ARGV...`: the
// preamble prints the marker, changes directory, and execs the command.
func shellArgv(cmd runner.Command, marker string) []string {
	script := `printf "%s\n" "$0" && exec "$@"`
	a := []string{"sh", "-c", script, marker}
	if cmd.Dir != "" {
		script = `printf "%s\n" "$0" && cd "$1" && shift && exec "$@"`
		a = []string{"sh", "-c", script, marker, cmd.Dir}
	}
	if len(cmd.Env) > 0 {
		a = append(append(a, "env"), cmd.Env...)
	}
	return append(a, cmd.Argv...)
}

// Runner prepares cmd under sudo on the inner target.
func (t *SudoTarget) Runner(cmd runner.Command) (runner.Runner, error) {
	if len(cmd.Argv) == 0 {
		return nil, errors.New("sudo: empty command")
	}
	prompt, marker := "[spindle-sudo-"+token()+"]", markerPrefix+token()
	inner, err := t.inner.Runner(runner.Command{Argv: t.argv(cmd, prompt, marker)})
	if err != nil {
		return nil, fmt.Errorf("sudo: %w", err)
	}
	return &sudoRunner{base: base{inner: inner, method: "sudo", user: t.opts.User, auth: &t.opts.Auth, marker: marker},
		prompt: prompt}, nil
}

// sudoRunner is one command under sudo.
type sudoRunner struct {
	base
	prompt string
	pump   *promptPump
}

// Start starts sudo on the inner target and returns once the command runs
// (its marker came) or authentication failed.
func (r *sudoRunner) Start(ctx context.Context) error {
	if err := r.inner.Start(ctx); err != nil {
		return fmt.Errorf("sudo: %w", err)
	}
	prompts := make(chan struct{}, 4)
	r.pump = newPromptPump(r.inner.Stderr(), r.prompt, prompts)
	d := &dialogue{method: "sudo", user: r.user, auth: r.auth, prompts: prompts,
		marker: r.watchMarker(), exitAfterPassword: ErrRefused,
		answer: func(line []byte) error { _, err := r.Stdin().Write(line); return err }}
	n, err := d.run(ctx)
	if err == nil {
		r.stderr = r.pump.forward()
		r.started(func() { r.pump.release(2 * time.Second) })
		return nil
	}
	if errors.Is(err, ErrBadPassword) {
		// Ending sudo's stdin makes it give up at once ("no password was
		// provided"), so it logs one failed attempt and asks no more.
		_ = r.Stdin().Close()
	}
	return r.fail(n, err, r.pump.tail)
}

// promptPump reads sudo's stderr: while the dialogue runs it counts prompt
// tokens (removed from the stream) and keeps the rest; then it forwards
// everything to the reader Stderr returns.
type promptPump struct {
	src    io.Reader
	prompt []byte
	ch     chan<- struct{}
	pr     *io.PipeReader
	pw     *io.PipeWriter
	done   chan struct{}

	mu       sync.Mutex
	scanning bool
	win      []byte // bytes not yet scanned for a whole token
	pre      []byte // stderr kept during the dialogue (bounded)
}

func newPromptPump(src io.Reader, prompt string, ch chan<- struct{}) *promptPump {
	pr, pw := io.Pipe()
	p := &promptPump{src: src, prompt: []byte(prompt), ch: ch, pr: pr, pw: pw, done: make(chan struct{}), scanning: true}
	go p.run()
	return p
}

func (p *promptPump) run() {
	defer close(p.done)
	buf := make([]byte, 4096)
	broken := false
	for {
		n, err := p.src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			scanning := p.scanning
			if scanning {
				p.scan(buf[:n])
			}
			p.mu.Unlock()
			if !scanning && !broken {
				if _, werr := p.pw.Write(buf[:n]); werr != nil {
					broken = true // reader closed: drain so sudo never blocks
				}
			}
		}
		if err != nil {
			_ = p.pw.Close()
			return
		}
	}
}

// scan finds whole prompt tokens in what has arrived so far. Called with
// p.mu held.
func (p *promptPump) scan(b []byte) {
	p.win = append(p.win, b...)
	for {
		i := indexOf(p.win, p.prompt)
		if i < 0 {
			break
		}
		p.keep(p.win[:i])
		p.win = p.win[i+len(p.prompt):]
		select {
		case p.ch <- struct{}{}:
		default: // the dialogue has ended on an earlier prompt
		}
	}
	if k := len(p.win) - (len(p.prompt) - 1); k > 0 {
		p.keep(p.win[:k])
		p.win = append(p.win[:0], p.win[k:]...)
	}
}

func (p *promptPump) keep(b []byte) {
	if room := maxNoiseBytes - len(p.pre); room > 0 {
		p.pre = append(p.pre, b[:min(len(b), room)]...)
	}
}

// forward ends the dialogue phase and returns the stderr reader: what was
// kept, then the rest of the stream.
func (p *promptPump) forward() io.ReadCloser {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.scanning = false
	p.keep(p.win)
	pre := append([]byte(nil), p.pre...)
	p.win, p.pre = nil, nil
	return readCloser{Reader: io.MultiReader(strings.NewReader(string(pre)), p.pr), Closer: p.pr}
}

// tail is what sudo printed during the dialogue, for errors.
func (p *promptPump) tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return lastLines(string(p.pre)+string(p.win), 5)
}

// release waits up to grace for the stream to be read to its end, then
// closes it so the pump ends even when nobody reads.
func (p *promptPump) release(grace time.Duration) {
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = p.pr.CloseWithError(errors.New("sudo: stderr released after the command ended"))
	}
}

func indexOf(s, sep []byte) int { return strings.Index(string(s), string(sep)) }

type readCloser struct {
	io.Reader
	io.Closer
}

// lastLines returns the last n non-empty lines of s.
func lastLines(s string, n int) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return strings.Join(out, "\n")
}
