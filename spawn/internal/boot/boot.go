package boot

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/spindle-go/spindle/internal/progress"
	"github.com/spindle-go/spindle/spawn/runner"
)

// DefaultShell runs the bootstrap unless Options.Shell says otherwise.
const DefaultShell = "/bin/sh"

// abortTimeout bounds the clean-up of a failed bootstrap.
const abortTimeout = 3 * time.Second

// Options configures one bootstrap. Zero values mean the documented
// defaults. Start does not modify the caller's slices.
type Options struct {
	// Host describes the target in errors and logs ("deploy@h:22",
	// "docker web-1").
	Host string
	// Shell is the POSIX shell that runs the bootstrap. Default /bin/sh.
	Shell string
	// LogLevel is the child's SPINDLE_LOG_LEVEL. Default "INFO".
	LogLevel string
	// Env is exported into the child's environment ("NAME=value").
	Env []string
	// CacheDirs are the target's directories tried for the binary cache;
	// empty means the script's defaults (docs/bootstrap.md).
	CacheDirs []string
	// Binaries are programs for other platforms; the running program is
	// added last, so a caller's binary for its platform wins.
	Binaries []*Binary
	// Build, when set, is asked for a binary when the target runs a
	// platform none of Binaries (nor the running program) is for. The
	// time it takes does not count against Timeout.
	Build BinarySource
	// Timeout bounds the bootstrap, from Start until the binary runs,
	// not counting the wait for Build. Zero: only ctx bounds it.
	Timeout time.Duration
	// Logger receives Debug lines (skipped shell output, timings) and the
	// cksum warning. Default: discard.
	Logger *slog.Logger
	// Stderr, when set, is given the command's stderr as soon as it runs
	// and returns what the errors quote from it. Default: stderr is kept
	// (last 4 KiB) by Start itself.
	Stderr func(io.ReadCloser) Tail
	// Cache bounds the target's cache directory: the child prunes the
	// directory it runs from once it is up (CachePolicyEnv carries it).
	Cache CachePolicy
	// Progress, when set, is called as the binary is uploaded (never on a
	// cache hit): once with Done 0 before the first byte, after each chunk
	// written (uploadChunk), and last with Done == Total once every byte
	// is written. Done never decreases. It runs on the goroutine that
	// writes the upload, so it paces the upload: keep it short.
	Progress func(Progress)
	// Flights, when set, makes this start share an upload with the other
	// starts through the same Flights: a miss while one of them uploads
	// the same binary to the same host and directory waits for it instead
	// of uploading again (Info.Shared). Default: each start uploads.
	Flights *Flights
}

// Progress is one report of a transfer's bytes (Options.Progress).
type Progress struct {
	// Phase says which transfer: PhaseUpload (the bootstrap's upload to
	// the target), the only one so far.
	Phase string
	// Target is the other side: the bootstrap's host ("ssh u@h:22").
	Target string
	// Done and Total count the bytes as they cross the stream, after
	// compression (Codec): what the network carries and what sets the
	// time the transfer takes. Total is never 0 and Done reaches it last.
	Done, Total int64
	// Codec is the encoding of the bytes (zstd, gzip or raw), Size the
	// binary's own size before encoding.
	Codec string
	Size  int64
}

// PhaseUpload is the Phase of the bootstrap's upload to the target.
const PhaseUpload = "upload"

// uploadChunk is the most bytes of the upload written at once (a progress
// report follows each).
const uploadChunk = 128 << 10

// Tail is what Start needs from whoever consumes the command's stderr.
type Tail interface {
	Tail() string // the last lines, for error messages
	Wait()        // returns once stderr reached EOF
}

// Validate checks the options that reach the target's shell.
func (o *Options) Validate() error {
	if o.Shell != "" && (!path.IsAbs(o.Shell) || strings.ContainsAny(o.Shell, "\n\x00")) {
		return fmt.Errorf("spawn: shell %q is not an absolute path", o.Shell)
	}
	for _, d := range o.CacheDirs {
		if !path.IsAbs(d) || strings.ContainsAny(d, ":\n\x00") {
			return fmt.Errorf("spawn: cache directory %q must be absolute, without ':' or newlines", d)
		}
	}
	for _, kv := range o.Env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || !isEnvName(k) || strings.ContainsAny(kv, "\n\x00") {
			return fmt.Errorf("spawn: Env entry %q is not NAME=value", kv)
		}
	}
	for i, b := range o.Binaries {
		if b == nil {
			return fmt.Errorf("spawn: Binaries[%d] is nil", i)
		}
	}
	return nil
}

func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c != '_' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Info says how the binary came to run on the target.
type Info struct {
	Platform   string // GOOS/GOARCH of the target
	Pid        int    // process ID of the child context on the target
	Dir        string // cache directory the binary runs from
	CacheHit   bool   // the binary was in the cache: nothing was uploaded
	Codec      string // encoding of the upload: zstd, gzip or raw
	Uploaded   int64  // bytes of the binary sent (0 on a cache hit)
	DigestTool string // the target's tool that verified the upload

	Bootstrap time.Duration // from Start until the binary runs, upload included
	Upload    time.Duration // upload and verification alone
	Build     time.Duration // waiting for Options.Build (0 when not asked)
	Built     bool          // the binary came from Options.Build
	// Shared: the binary was missing, and another start's upload (through
	// Options.Flights) installed it while this one waited.
	Shared bool
}

// Process is a bootstrapped binary: its runner, and the two streams that
// are now the Spindle link (the child speaks HELLO next).
type Process struct {
	Runner runner.Runner
	Link   io.Reader      // the child's stdout after the exec line
	Stdin  io.WriteCloser // the child's stdin
	Stderr Tail
	Info   Info
}

// PIDSetter is implemented by runners that use the process ID the
// bootstrap reports (the first line of the script), for example to signal
// the process group with kill(1) when the method cannot signal itself.
type PIDSetter interface{ SetPID(pid int) }

// Start runs the bootstrap on t: one command, `SHELL -c SCRIPT ...`,
// whose stdin carries the binary too when it is not cached (so a method
// that authenticates does so once). It returns once the binary runs; the
// caller then does the handshake over Link and Stdin. On failure, or when
// ctx ends, the command is killed and waited for, and the error matches
// one of this package's sentinels.
func Start(ctx context.Context, t runner.Target, opts Options) (*Process, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	b := &booter{opts: opts, log: opts.Logger, host: opts.Host, begin: time.Now()}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.opts.Shell == "" {
		b.opts.Shell = DefaultShell
	}
	if b.opts.LogLevel == "" {
		b.opts.LogLevel = "INFO"
	}
	bins, err := Offered(opts.Binaries)
	if err != nil {
		return nil, err
	}
	if err := PrepareAll(bins); err != nil {
		return nil, err
	}
	b.bins = OnePerPlatform(bins)
	if opts.Timeout > 0 {
		var cancel context.CancelCauseFunc
		ctx, cancel = context.WithCancelCause(ctx)
		defer cancel(nil)
		b.clock = newPausableTimer(opts.Timeout, cancel)
		defer b.clock.stop()
	}
	return b.run(ctx, t)
}

// pausableTimer ends a context after a duration that does not count the
// time it was paused (the wait for a build on demand).
type pausableTimer struct {
	left  time.Duration
	since time.Time
	t     *time.Timer
}

func newPausableTimer(d time.Duration, cancel context.CancelCauseFunc) *pausableTimer {
	cause := fmt.Errorf("%w: bootstrap timeout %v", context.DeadlineExceeded, d)
	return &pausableTimer{left: d, since: time.Now(), t: time.AfterFunc(d, func() { cancel(cause) })}
}

func (p *pausableTimer) pause() {
	if p != nil && p.t.Stop() {
		p.left -= time.Since(p.since)
	}
}

func (p *pausableTimer) resume() {
	if p != nil {
		p.since = time.Now()
		p.t.Reset(max(p.left, 0))
	}
}

func (p *pausableTimer) stop() { p.t.Stop() }

// booter is the state of one Start.
type booter struct {
	opts  Options
	log   *slog.Logger
	host  string
	bins  []*Binary
	begin time.Time
	r     runner.Runner
	up    *uploader // the upload under way, if any
	tail  Tail
	info  Info
	clock *pausableTimer // Options.Timeout, nil without one
	// flight is the upload this start leads in Options.Flights, landed
	// when the start ends (the binary is installed once it runs).
	flight    *flight
	flightKey flightKey
	waited    bool // waited for another start's upload at least once
}

func (b *booter) run(ctx context.Context, t runner.Target) (*Process, error) {
	table := Table(b.bins)
	if b.opts.Build != nil {
		table = append(table, PlatformDigest{Platform: "*", Digest: "build"})
	}
	env := append(append([]string(nil), b.opts.Env...), CachePolicyEnv+"="+b.opts.Cache.Encode())
	argv := Argv(b.opts.Shell, b.opts.LogLevel, table, b.opts.CacheDirs, env)
	r, err := t.Runner(runner.Command{Argv: argv})
	if err != nil {
		return nil, &BootstrapError{Host: b.host, Stage: "session", Err: err}
	}
	if err := r.Start(ctx); err != nil {
		return nil, b.bootErr(ctx, "session", err)
	}
	b.r = r
	if b.opts.Stderr != nil {
		b.tail = b.opts.Stderr(r.Stderr())
	} else {
		b.tail = keepTail(r.Stderr())
	}
	defer b.land()
	killed := make(chan struct{})
	stop := context.AfterFunc(ctx, func() { // unblocks the reads below
		defer close(killed)
		b.kill()
	})
	p, err := b.converse(ctx)
	if !stop() {
		<-killed
		if err == nil {
			err = b.bootErr(ctx, "exec", ctx.Err())
		}
	}
	if err != nil {
		b.kill()
		b.wait()
		_ = b.r.Stdin().Close() // ends a write still under way
		if b.up != nil {
			b.up.wait()
		}
		_ = b.r.Stdout().Close()
		b.tail.Wait()
		return nil, err
	}
	return p, nil
}

// converse reads the script's replies and answers a miss with the upload,
// until the binary runs.
func (b *booter) converse(ctx context.Context) (*Process, error) {
	stdout := b.r.Stdout()
	lines := bufio.NewReaderSize(stdout, 4096)
	var up *uploader
	for {
		rep, err := readReply(lines, b.log)
		if err != nil {
			return nil, b.noReply(ctx, err)
		}
		switch {
		case rep.Verb == "pid":
			if s, ok := b.r.(PIDSetter); ok {
				s.SetPID(rep.Pid)
			}
		case rep.Verb == "exec":
			b.info.Platform, b.info.Pid, b.info.Dir, b.info.CacheHit = rep.Platform, rep.Pid, rep.Dir, up == nil
			b.info.Shared = b.waited && up == nil
			b.info.Bootstrap = time.Since(b.begin)
			if up != nil {
				up.wait()
				b.info.Upload = time.Since(up.begin)
				up = nil
			}
			if s, ok := b.r.(PIDSetter); ok {
				s.SetPID(rep.Pid)
			}
			rest, _ := lines.Peek(lines.Buffered())
			link := io.MultiReader(bytes.NewReader(bytes.Clone(rest)), stdout)
			return &Process{Runner: b.r, Link: link, Stdin: b.r.Stdin(), Stderr: b.tail, Info: b.info}, nil
		case rep.Verb == "need" && b.opts.Build != nil && b.info.Build == 0:
			if err := b.need(ctx, rep); err != nil {
				return nil, err
			}
		case rep.Verb == "miss" && up == nil:
			if lead, err := b.takeOff(ctx, rep); err != nil {
				return nil, err
			} else if !lead {
				continue // the script looks again: exec, or miss again
			}
			if up, err = b.upload(ctx, rep); err != nil {
				return nil, err
			}
			b.up = up
		case rep.Verb == "err":
			return nil, b.scriptErr(ctx, rep, up)
		default:
			return nil, b.bootErr(ctx, "probe", fmt.Errorf("%w: unexpected %q", ErrBadReply, rep.Verb))
		}
	}
}

// takeOff decides who uploads for a miss (Options.Flights): it reports
// lead when this start is to upload; otherwise it has waited for the
// upload of another start to the same place and told the script to look
// again.
func (b *booter) takeOff(ctx context.Context, miss Reply) (lead bool, err error) {
	bin := For(b.bins, miss.Platform)
	if b.opts.Flights == nil || bin == nil || b.flight != nil {
		return true, nil
	}
	k := flightKey{host: b.host, dir: miss.Dir, digest: bin.digest}
	f, lead := b.opts.Flights.join(k)
	if lead {
		b.flight, b.flightKey = f, k
		return true, nil
	}
	b.log.Debug("boot: waiting for another start's upload of the binary", "host", b.host, "dir", miss.Dir)
	if err := f.wait(ctx); err != nil {
		return false, b.bootErr(ctx, "upload", err)
	}
	b.waited = true
	if _, err := io.WriteString(b.r.Stdin(), "again\n"); err != nil {
		return false, b.bootErr(ctx, "upload", err)
	}
	return false, nil
}

// land ends the upload this start led, if any: the others waiting for it
// look again.
func (b *booter) land() {
	if b.flight != nil {
		b.opts.Flights.land(b.flightKey, b.flight)
		b.flight = nil
	}
}

// need answers a target whose platform no binary on offer is for: it asks
// Options.Build, with the bootstrap's clock paused, and tells the script
// the digest of what it got.
func (b *booter) need(ctx context.Context, rep Reply) error {
	mismatch := &PlatformError{Host: b.host, Remote: rep.Platform, Uname: rep.Detail, Local: Platforms(b.bins)}
	if !Buildable(rep.Platform) { // "unknown/..." from the script, or a target that lies
		return mismatch
	}
	begin := time.Now()
	b.clock.pause()
	bin, err := b.opts.Build.Binary(ctx, rep.Platform)
	if err == nil {
		err = bin.Prepare()
	}
	b.clock.resume()
	b.info.Build, b.info.Built = max(time.Since(begin), 1), true
	if err == nil && bin.platform != rep.Platform {
		err = fmt.Errorf("spawn: the build for %s gave a binary for %s", rep.Platform, bin.platform)
	}
	if err != nil {
		if ctx.Err() != nil {
			return b.bootErr(ctx, "build", err)
		}
		mismatch.Build = err
		return mismatch
	}
	b.bins = append(b.bins, bin)
	b.log.Debug("boot: built the binary for the target", "host", b.host, "platform", rep.Platform, "took", b.info.Build)
	if _, err := io.WriteString(b.r.Stdin(), "use "+bin.digest+"\n"); err != nil {
		return b.bootErr(ctx, "build", err)
	}
	return nil
}

// scriptErr turns an err reply into its typed error.
func (b *booter) scriptErr(ctx context.Context, rep Reply, up *uploader) error {
	switch rep.Code {
	case "platform":
		remote, uname, _ := strings.Cut(rep.Detail, " ")
		return &PlatformError{Host: b.host, Remote: remote, Uname: uname, Local: Platforms(b.bins)}
	case "noexec":
		return &CacheDirError{Host: b.host, Detail: rep.Detail}
	case "write":
		if up != nil && rep.AvailKiB >= 0 && rep.AvailKiB*1024 < up.bin.size {
			return &DiskFullError{Host: b.host, Dir: up.dir, Need: up.bin.size, AvailKiB: rep.AvailKiB}
		}
		return b.bootErr(ctx, "upload", fmt.Errorf("write %s", rep.Detail))
	case "verify":
		want := ""
		if up != nil {
			want = up.want
		}
		return b.bootErr(ctx, "verify", fmt.Errorf("the uploaded binary does not match: %s printed %q, want %q", up.tool(), rep.Detail, want))
	}
	stage := "probe"
	if up != nil {
		stage = "upload"
	}
	return b.bootErr(ctx, stage, fmt.Errorf("%s %s", rep.Code, rep.Detail))
}

// uploader sends one binary on the script's stdin.
type uploader struct {
	bin   *Binary
	dir   string
	want  string
	miss  Reply
	begin time.Time
	done  chan struct{}
	err   error
}

func (u *uploader) wait() { <-u.done }

func (u *uploader) tool() string {
	if u == nil {
		return "?"
	}
	return u.miss.Tool
}

// upload answers a miss: the header line, then the encoded binary, on the
// same stdin, written by a goroutine while the replies are read (a failed
// write is reported early).
func (b *booter) upload(ctx context.Context, miss Reply) (*uploader, error) {
	var err error
	bin := For(b.bins, miss.Platform)
	if bin == nil {
		return nil, &PlatformError{Host: b.host, Remote: miss.Platform, Local: Platforms(b.bins)}
	}
	if miss.AvailKiB >= 0 && miss.AvailKiB*1024 < bin.size {
		return nil, &DiskFullError{Host: b.host, Dir: miss.Dir, Need: bin.size, AvailKiB: miss.AvailKiB}
	}
	if miss.Tool == "none" {
		return nil, b.bootErr(ctx, "verify", errors.New("the target has no digest tool (openssl, sha256sum, shasum, sha256 or cksum)"))
	}
	if miss.Tool == "cksum" {
		b.log.Warn("boot: the target has no SHA-256 tool; the upload is verified with POSIX cksum (CRC-32) only", "host", b.host)
	}
	if bin, err = bin.resolve(ctx); err != nil { // a remote binary: fetched now, once
		return nil, b.bootErr(ctx, "fetch", err)
	}
	codec := PickCodec(miss.Codecs)
	data, err := bin.Encoded(codec)
	if err != nil {
		return nil, err
	}
	want, err := bin.Expected(miss.Tool)
	if err != nil {
		return nil, err
	}
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	u := &uploader{bin: bin, dir: miss.Dir, want: want, miss: miss, begin: time.Now(), done: make(chan struct{})}
	b.info.Codec, b.info.Uploaded, b.info.DigestTool = codec, int64(len(data)), miss.Tool
	hdr := uploadHeader(hex.EncodeToString(tok[:]), codec, len(data), miss.Tool, want)
	stdin := b.r.Stdin()
	report := Progress{Phase: PhaseUpload, Target: b.host, Total: int64(len(data)), Codec: codec, Size: bin.size}
	m := progress.Start(b.log, progress.Spec{Op: PhaseUpload, Target: b.host, Total: report.Total,
		Attrs: []any{"dir", miss.Dir, "codec", codec, "size", bin.size}})
	go func() {
		defer close(u.done)
		if _, u.err = io.WriteString(stdin, hdr); u.err == nil {
			u.err = sendChunks(stdin, data, report, b.opts.Progress, m)
		}
		m.End(u.err)
	}()
	return u, nil
}

// sendChunks writes data to w in chunks of uploadChunk, reporting each to
// m and to fn (when set).
func sendChunks(w io.Writer, data []byte, p Progress, fn func(Progress), m *progress.Meter) error {
	if fn != nil {
		fn(p)
	}
	for len(data) > 0 {
		n := min(len(data), uploadChunk)
		k, err := w.Write(data[:n])
		p.Done += int64(k)
		if k > 0 {
			m.Update(p.Done)
			if fn != nil {
				fn(p)
			}
		}
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// noReply explains a script that ended without answering: a shell that
// could not be run (exit status 126 or 127), or something else.
func (b *booter) noReply(ctx context.Context, readErr error) error {
	if !errors.Is(readErr, errNoReply) {
		return b.bootErr(ctx, "probe", readErr)
	}
	wctx, cancel := context.WithTimeout(ctx, abortTimeout)
	defer cancel()
	werr := b.r.Wait(wctx)
	if ctx.Err() != nil {
		return b.bootErr(ctx, "probe", ctx.Err())
	}
	b.tail.Wait()
	var ec runner.ExitCoder
	if errors.As(werr, &ec) && (ec.ExitCode() == 127 || ec.ExitCode() == 126) {
		return &ShellError{Host: b.host, Shell: b.opts.Shell, ExitStatus: ec.ExitCode(), Stderr: b.tail.Tail()}
	}
	why := readErr
	if werr != nil {
		why = fmt.Errorf("%w (%v)", readErr, werr)
	}
	return &BootstrapError{Host: b.host, Stage: "probe", Err: why, Stderr: b.tail.Tail()}
}

// bootErr wraps err for stage, preferring the deadline when it passed.
func (b *booter) bootErr(ctx context.Context, stage string, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (stage %s)", context.Cause(ctx), stage)
	}
	tail := ""
	if b.tail != nil {
		tail = b.tail.Tail()
	}
	return &BootstrapError{Host: b.host, Stage: stage, Err: err, Stderr: tail}
}

func (b *booter) kill() {
	ctx, cancel := context.WithTimeout(context.Background(), abortTimeout)
	defer cancel()
	_ = b.r.Kill(ctx)
}

func (b *booter) wait() {
	ctx, cancel := context.WithTimeout(context.Background(), abortTimeout)
	defer cancel()
	_ = b.r.Wait(ctx)
}

// tailBuffer keeps the last 4 KiB of a stream.
type tailBuffer struct {
	mu   sync.Mutex
	buf  []byte
	done chan struct{}
}

// keepTail reads r to EOF, keeping its last 4 KiB.
func keepTail(r io.ReadCloser) Tail {
	t := &tailBuffer{done: make(chan struct{})}
	go func() {
		defer close(t.done)
		defer r.Close()
		_, _ = io.Copy(t, r)
	}()
	return t
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-4096:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Tail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

func (t *tailBuffer) Wait() { <-t.done }
