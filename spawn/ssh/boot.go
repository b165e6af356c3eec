package ssh

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
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/spindle-go/spindle/spawn/internal/boot"
)

// Limits on what the bootstrap reads before its reply: output of the
// remote login shell's startup files is skipped, up to this much.
const (
	maxNoiseBytes = 64 << 10
	maxNoiseLines = 200
)

// errNoReply means a script's stdout ended before its reply line.
var errNoReply = errors.New("the remote shell closed stdout before the bootstrap answered")

// bootstrap runs stage 1 on the remote host and, when the binary is not
// cached there, uploads it, until the binary runs (c.linkR, c.stdin and
// c.sess are then the link).
func (c *SSHContext) bootstrap(ctx context.Context, opts *SSHOptions, bins []*Binary) error {
	sess, err := c.conn.client.NewSession()
	if err != nil {
		return c.bootErr(ctx, "session", err)
	}
	stdin, err1 := sess.StdinPipe()
	stdout, err2 := sess.StdoutPipe()
	stderr, err3 := sess.StderrPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		_ = sess.Close()
		return c.bootErr(ctx, "session", err)
	}
	c.stderr = forwardStderr(io.NopCloser(stderr), c.log)
	table := make([]platformDigest, 0, len(bins))
	for _, pd := range boot.Table(bins) {
		table = append(table, platformDigest{Platform: pd.Platform, Digest: pd.Digest})
	}
	cmd := bootCommand(opts.Shell, opts.LogLevel.String(), table, opts.CacheDirs, opts.Env)
	if err := sess.Start(cmd); err != nil {
		_ = sess.Close()
		return c.bootErr(ctx, "session", err)
	}
	c.sess, c.stdin = sess, stdin
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.exitErr = sess.Wait()
		close(c.exited)
	}()
	lines := bufio.NewReaderSize(stdout, 4096)
	uploaded := false
	for {
		rep, err := readReply(lines, bootMarker, c.log)
		if err != nil {
			return c.noReply(ctx, err)
		}
		switch {
		case rep.Verb == "pid":
			c.bootPid.Store(int64(rep.Pid))
		case rep.Verb == "exec":
			c.info.Platform, c.info.Pid, c.info.Dir, c.info.CacheHit = rep.Platform, rep.Pid, rep.Dir, !uploaded
			rest, _ := lines.Peek(lines.Buffered())
			c.linkR = io.MultiReader(bytes.NewReader(bytes.Clone(rest)), stdout)
			return nil
		case rep.Verb == "miss" && !uploaded:
			bin := binaryFor(bins, rep.Platform)
			if bin == nil {
				return c.platformErr(bins, rep.Platform, "")
			}
			if err := c.upload(ctx, rep, bin); err != nil {
				return err
			}
			uploaded = true
			if _, err := io.WriteString(stdin, "go\n"); err != nil {
				return c.bootErr(ctx, "exec", err)
			}
		case rep.Verb == "err" && rep.Code == "platform":
			remote, uname, _ := strings.Cut(rep.Detail, " ")
			return c.platformErr(bins, remote, uname)
		case rep.Verb == "err" && rep.Code == "noexec":
			return &CacheDirError{Host: c.host, Detail: rep.Detail}
		case rep.Verb == "err":
			return c.bootErr(ctx, "probe", fmt.Errorf("%s %s", rep.Code, rep.Detail))
		default:
			return c.bootErr(ctx, "probe", fmt.Errorf("%w: unexpected %q", errBadReply, rep.Verb))
		}
	}
}

// readReply reads lines until one of marker's, skipping (and logging at
// Debug) anything else the remote shell printed.
func readReply(r *bufio.Reader, marker string, log *slog.Logger) (bootReply, error) {
	noise, lines := 0, 0
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			noise += len(line)
			for errors.Is(err, bufio.ErrBufferFull) && noise <= maxNoiseBytes {
				line, err = r.ReadSlice('\n')
				noise += len(line)
			}
			line = nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errNoReply
			}
			return bootReply{}, err
		}
		line = bytes.TrimRight(line, "\r\n")
		rep, ours, perr := parseReply(marker, line)
		if perr != nil {
			return bootReply{}, perr
		}
		if ours {
			return rep, nil
		}
		noise += len(line)
		lines++
		log.Debug("ssh: remote shell output before the bootstrap reply", "line", truncate(string(line), 200))
		if noise > maxNoiseBytes || lines > maxNoiseLines {
			return bootReply{}, fmt.Errorf("%w: more than %d lines or %d bytes of other output", errBadReply, maxNoiseLines, maxNoiseBytes)
		}
	}
}

func binaryFor(bins []*Binary, platform string) *Binary { return boot.For(bins, platform) }

func (c *SSHContext) platformErr(bins []*Binary, remote, uname string) error {
	return &PlatformError{Host: c.host, Remote: remote, Uname: uname, Local: boot.Platforms(bins)}
}

// noReply explains a stage-1 script that ended without answering: a shell
// that could not be run (exit status 126 or 127), or something else.
func (c *SSHContext) noReply(ctx context.Context, readErr error) error {
	if !errors.Is(readErr, errNoReply) {
		return c.bootErr(ctx, "probe", readErr)
	}
	select {
	case <-c.exited:
	case <-ctx.Done():
		return c.bootErr(ctx, "probe", ctx.Err())
	}
	if ctx.Err() != nil { // the deadline's abort ended the session
		return c.bootErr(ctx, "probe", ctx.Err())
	}
	_ = c.conn.Close() // ends stderr too
	c.stderr.wait()
	var ee *ssh.ExitError
	if errors.As(c.exitErr, &ee) && ee.Signal() == "" && (ee.ExitStatus() == 127 || ee.ExitStatus() == 126) {
		return &ShellError{Host: c.host, Shell: c.shell, ExitStatus: ee.ExitStatus(), Stderr: c.stderr.tail()}
	}
	why := readErr
	if c.exitErr != nil {
		why = fmt.Errorf("%w (%v)", readErr, c.exitErr)
	}
	return &BootstrapError{Host: c.host, Stage: "probe", Err: why, Stderr: c.stderr.tail()}
}

// bootErr wraps err for stage, preferring the deadline when it passed.
func (c *SSHContext) bootErr(ctx context.Context, stage string, err error) error {
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (stage %s)", ctx.Err(), stage)
	}
	tail := ""
	if c.stderr != nil {
		tail = c.stderr.tail()
	}
	return &BootstrapError{Host: c.host, Stage: stage, Err: err, Stderr: tail}
}

// upload sends bin through a second session into the directory stage 1
// chose, where it is verified and renamed into place.
func (c *SSHContext) upload(ctx context.Context, miss bootReply, bin *Binary) error {
	begin := time.Now()
	size, _ := bin.Size()
	digest, _ := bin.Digest()
	if miss.AvailKiB >= 0 && miss.AvailKiB*1024 < size {
		return &DiskFullError{Host: c.host, Dir: miss.Dir, Need: size, AvailKiB: miss.AvailKiB}
	}
	if miss.Tool == "none" {
		return c.bootErr(ctx, "verify", errors.New("the remote host has no digest tool (openssl, sha256sum, shasum, sha256 or cksum)"))
	}
	if miss.Tool == "cksum" {
		c.log.Warn("ssh: remote host has no SHA-256 tool; the upload is verified with POSIX cksum (CRC-32) only")
	}
	codec := boot.PickCodec(miss.Codecs)
	data, err := bin.Encoded(codec)
	if err != nil {
		return err
	}
	want, err := bin.Expected(miss.Tool)
	if err != nil {
		return err
	}
	var tok [8]byte
	_, _ = rand.Read(tok[:])
	sess, err := c.conn.client.NewSession()
	if err != nil {
		return c.bootErr(ctx, "upload", err)
	}
	defer sess.Close()
	stdin, err1 := sess.StdinPipe()
	stdout, err2 := sess.StdoutPipe()
	var stderr tailBuffer
	sess.Stderr = &stderr
	if err := errors.Join(err1, err2); err != nil {
		return c.bootErr(ctx, "upload", err)
	}
	cmd := uploadCommand(c.shell, miss.Dir, digest, codec, miss.Tool, want, hex.EncodeToString(tok[:]))
	if err := sess.Start(cmd); err != nil {
		return c.bootErr(ctx, "upload", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the reply may come early (a failed write): read it meanwhile
		defer wg.Done()
		_, _ = stdin.Write(data)
		_ = stdin.Close()
	}()
	rep, rerr := readReply(bufio.NewReader(stdout), uploadMarker, c.log)
	werr := sess.Wait()
	_ = sess.Close()
	wg.Wait()
	if rerr != nil {
		if ctx.Err() == nil && werr != nil {
			rerr = fmt.Errorf("%w (%v)", rerr, werr)
		}
		e := c.bootErr(ctx, "upload", rerr).(*BootstrapError)
		e.Stderr = stderr.String()
		return e
	}
	switch {
	case rep.Verb == "ok":
		c.info.Codec, c.info.Uploaded, c.info.DigestTool = codec, int64(len(data)), miss.Tool
		c.info.Upload = time.Since(begin)
		c.log.Debug("ssh: binary installed", "path", rep.Dir, "codec", codec, "bytes", len(data), "took", c.info.Upload)
		return nil
	case rep.Code == "write" && rep.AvailKiB >= 0 && rep.AvailKiB*1024 < size:
		return &DiskFullError{Host: c.host, Dir: miss.Dir, Need: size, AvailKiB: rep.AvailKiB}
	case rep.Code == "verify":
		return &BootstrapError{Host: c.host, Stage: "verify", Stderr: stderr.String(),
			Err: fmt.Errorf("the uploaded binary does not match: %s printed %q, want %q", miss.Tool, rep.Detail, want)}
	}
	return &BootstrapError{Host: c.host, Stage: "upload", Err: fmt.Errorf("%s %s", rep.Code, rep.Detail), Stderr: stderr.String()}
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
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

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
