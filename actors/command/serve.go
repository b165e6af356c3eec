package command

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/spindle-go/spindle/actors/transfer"
	"github.com/spindle-go/spindle/wire"
)

// serve runs one command for the context at the other end of s. Its ctx
// ends when the stream is reset, the caller dies or this context shuts
// down: then the command's process group is killed (SIGTERM, SIGKILL
// after KillGrace), and serve returns once the command was reaped.
func (r *Runner) serve(ctx context.Context, s *transfer.Stream) error {
	typ, b, err := readRecord(s, nil, maxRequest)
	if err != nil {
		return err
	}
	var req request
	if typ != recRequest || wire.Unmarshal(b, &req) != nil || req.Path == "" {
		return errors.New("command: bad request record")
	}
	p, err := start(req)
	if err != nil {
		rec := startRecord{Err: err.Error(), NotFound: notFound(err)}
		return writeValue(s, recStartFailed, &rec)
	}
	r.log.Debug("command: started", "path", req.Path, "pid", p.cmd.Process.Pid, "for", s.Peer())
	fed := make(chan struct{})
	go func() { // owned: serve waits for it below
		defer close(fed)
		feedStdin(s, p.stdin)
	}()
	exit, err := r.supervise(ctx, s, p)
	if err == nil {
		err = writeValue(s, recExit, &exit)
	}
	_ = s.Close() // ends feedStdin's Read too
	<-fed
	return err
}

// dirError is a working directory that is not one.
type dirError struct {
	dir string
	err error
}

func (e *dirError) Error() string {
	if e.err != nil {
		return "working directory: " + e.err.Error()
	}
	return "working directory " + e.dir + " is not a directory"
}

// notFound reports whether err says the program does not exist (not its
// working directory).
func notFound(err error) bool {
	var ee *exec.Error
	var de *dirError
	return errors.As(err, &ee) || (!errors.As(err, &de) && errors.Is(err, fs.ErrNotExist))
}

// proc is a started command and the parent's ends of its pipes.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *os.File
	stdin          *os.File
}

// start starts the command of req in its own process group.
func start(req request) (*proc, error) {
	if req.Dir != "" { // said apart from a missing program, which fork/exec cannot
		if st, err := os.Stat(req.Dir); err != nil || !st.IsDir() {
			return nil, &dirError{dir: req.Dir, err: err}
		}
	}
	cmd := exec.Command(req.Path, req.Args...)
	cmd.Env, cmd.Dir = req.Env, req.Dir
	setGroup(cmd)
	var files []*os.File
	pipe := func() (*os.File, *os.File, error) {
		r, w, err := os.Pipe()
		files = append(files, r, w)
		return r, w, err
	}
	closeAll := func() {
		for _, f := range files {
			_ = f.Close()
		}
	}
	outR, outW, err1 := pipe()
	errR, errW, err2 := pipe()
	inR, inW, err3 := pipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		closeAll()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, err
	}
	_, _, _ = outW.Close(), errW.Close(), inR.Close()
	return &proc{cmd: cmd, stdout: outR, stderr: errR, stdin: inW}, nil
}

// supervise streams p's output to s until p has exited and its output is
// closed, killing p's process group when ctx ends, and returns p's exit.
func (r *Runner) supervise(ctx context.Context, s *transfer.Stream, p *proc) (exitRecord, error) {
	var pumps sync.WaitGroup
	pumps.Add(2)
	go pump(&pumps, s, p.stdout, recStdout) // owned: waited below
	go pump(&pumps, s, p.stderr, recStderr)
	exited := make(chan struct{})
	killed := make(chan struct{})
	go func() { // owned: ends once exited is closed
		defer close(killed)
		select {
		case <-ctx.Done():
			r.kill(p, exited)
		case <-exited:
		}
	}()
	waitErr := p.cmd.Wait()
	_ = p.stdin.Close()
	close(exited)
	<-killed
	drained := make(chan struct{})
	go func() { pumps.Wait(); close(drained) }() // owned: drained below
	select {
	case <-drained:
	case <-time.After(r.cfg.KillGrace): // a background process holds the output open
		killGroup(p.cmd.Process.Pid, sigKill)
		_, _ = p.stdout.Close(), p.stderr.Close()
		<-drained
	}
	_, _ = p.stdout.Close(), p.stderr.Close()
	if err := ctx.Err(); err != nil {
		return exitRecord{}, context.Cause(ctx)
	}
	return exitOf(p.cmd.ProcessState, waitErr), nil
}

// kill ends p's process group: SIGTERM, then SIGKILL after KillGrace
// unless the command exited first.
func (r *Runner) kill(p *proc, exited <-chan struct{}) {
	pid := p.cmd.Process.Pid
	r.log.Debug("command: killing its process group", "pid", pid)
	killGroup(pid, sigTerm)
	t := time.NewTimer(r.cfg.KillGrace)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
	}
	killGroup(pid, sigKill) // also what is left in the group after the leader
}

// pump sends what f yields as records of type typ; once the stream is
// gone it keeps reading (and drops), so the command never blocks on a
// full pipe.
func pump(wg *sync.WaitGroup, s *transfer.Stream, f *os.File, typ byte) {
	defer wg.Done()
	buf := make([]byte, outPiece)
	for {
		n, err := f.Read(buf)
		if n > 0 && writeRecord(s, typ, buf[:n]) != nil {
			_, _ = io.Copy(io.Discard, f)
			return
		}
		if err != nil {
			return
		}
	}
}

// feedStdin copies stdin records from s to the command's stdin until the
// caller's CloseWrite, then closes it.
func feedStdin(s *transfer.Stream, w *os.File) {
	defer w.Close()
	buf := make([]byte, outPiece)
	for {
		typ, b, err := readRecord(s, buf, maxRecord)
		if err != nil || typ != recStdin {
			return
		}
		buf = b[:0]
		if _, err := w.Write(b); err != nil {
			// The command closed its stdin: drop the rest.
			for err == nil {
				_, _, err = readRecord(s, buf, maxRecord)
			}
			return
		}
	}
}
