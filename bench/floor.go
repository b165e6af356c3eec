package main

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/spindle-go/spindle/bench/internal/workload"
)

// The raw floor: what two Go processes on this machine can do with no
// framework at all (the child's side is in internal/workload). Both ends
// use blocking read(2)/write(2) on the link descriptors (no runtime poller,
// no goroutine hand-off), so these are the lowest figures a Go program can
// reach over the same kind of link.
//
//   - spawn: fork/exec of the child binary Spindle contexts run, until its
//     first byte arrives (the child writes one byte first thing in main,
//     after the Go runtime and package initialisation every child pays);
//   - round trip: 64 bytes written, the same 64 bytes echoed back;
//   - one-way: 64-byte records streamed in 64 KiB writes; the child reads
//     and counts them and answers one byte at the end;
//   - bulk: 1 MiB written while the child echoes it back as it reads.
//
// Pipes get the same 1 MiB capacity that Spindle's links ask for.

const (
	floorMsg      = workload.FloorMsg
	floorPipeSize = 1 << 20
	fSetPipeSz    = 1031 // fcntl F_SETPIPE_SZ (Linux)
)

type floorDriver struct {
	exe  string
	sock bool // socketpair instead of two pipes
}

type floorProc struct {
	cmd  *exec.Cmd
	r, w *os.File // the parent's ends (one socket in both for a socketpair)
}

func (p *floorProc) stop() error {
	if p.w != nil {
		_ = p.w.Close()
	}
	if p.r != nil && p.r != p.w {
		_ = p.r.Close()
	}
	if p.cmd.Process == nil {
		return nil
	}
	return p.cmd.Wait()
}

// start runs the binary until it writes its first byte on stdout.
func (d *floorDriver) start(ctx context.Context) (stopper, error) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC); err != nil {
		return nil, err
	}
	r, w := os.NewFile(uintptr(fds[0]), "first-byte-r"), os.NewFile(uintptr(fds[1]), "first-byte-w")
	cmd := exec.Command(d.exe)
	cmd.Env = append(os.Environ(), workload.RoleEnv+"="+workload.RoleFirstByte)
	cmd.Stdout = w
	err := cmd.Start()
	_ = w.Close()
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	p := &floorProc{cmd: cmd, r: r}
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		_ = cmd.Process.Kill()
		return nil, errors.Join(err, p.stop())
	}
	return p, nil
}

// link makes the two ends of a blocking link: the parent's read and write
// files, and the files the child inherits as descriptors 3 (and 4).
func (d *floorDriver) link() (pr, pw *os.File, child []*os.File, err error) {
	if d.sock {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, nil, nil, err
		}
		p := os.NewFile(uintptr(fds[0]), "floor-sock")
		return p, p, []*os.File{os.NewFile(uintptr(fds[1]), "floor-sock-child")}, nil
	}
	var down, up [2]int
	if err := syscall.Pipe2(down[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, nil, err
	}
	if err := syscall.Pipe2(up[:], syscall.O_CLOEXEC); err != nil {
		syscall.Close(down[0])
		syscall.Close(down[1])
		return nil, nil, nil, err
	}
	for _, fd := range []int{down[1], up[1]} {
		_, _ = fcntl(fd, fSetPipeSz, floorPipeSize) // best effort, as in Spindle
	}
	pr, pw = os.NewFile(uintptr(up[0]), "floor-up-r"), os.NewFile(uintptr(down[1]), "floor-down-w")
	child = []*os.File{os.NewFile(uintptr(down[0]), "floor-down-r"), os.NewFile(uintptr(up[1]), "floor-up-w")}
	return pr, pw, child, nil
}

func fcntl(fd, cmd, arg int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), uintptr(arg))
	if e != 0 {
		return int(r), e
	}
	return int(r), nil
}

func (d *floorDriver) spawnRole(role string) (*floorProc, error) {
	pr, pw, child, err := d.link()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(d.exe)
	link := "pipes"
	if d.sock {
		link = "sock"
	}
	cmd.Env = append(os.Environ(), workload.RoleEnv+"="+role, workload.LinkEnv+"="+link)
	cmd.ExtraFiles = child
	cmd.Stderr = os.Stderr
	err = cmd.Start()
	for _, f := range child {
		_ = f.Close()
	}
	p := &floorProc{cmd: cmd, r: pr, w: pw}
	if err != nil {
		_ = p.stop()
		return nil, err
	}
	return p, nil
}

type floorSession struct {
	echo, sink *floorProc
	buf        []byte
}

func (d *floorDriver) open(ctx context.Context) (session, error) {
	echo, err := d.spawnRole(workload.RoleFloorEcho)
	if err != nil {
		return nil, err
	}
	sink, err := d.spawnRole(workload.RoleFloorSink)
	if err != nil {
		_ = echo.stop()
		return nil, err
	}
	return &floorSession{echo: echo, sink: sink, buf: make([]byte, bulkBytes)}, nil
}

func (s *floorSession) roundTrip(context.Context) error {
	msg := s.buf[:floorMsg]
	if _, err := s.echo.w.Write(msg); err != nil {
		return err
	}
	_, err := io.ReadFull(s.echo.r, msg)
	return err
}

func (s *floorSession) bulk(context.Context) error {
	done := make(chan error, 1)
	go func() {
		_, err := s.echo.w.Write(bulkPayload)
		done <- err
	}()
	_, err := io.ReadFull(s.echo.r, s.buf)
	return errors.Join(err, <-done)
}

// oneWay announces n records, streams them and waits for the child's byte.
func (s *floorSession) oneWay(_ context.Context, n int) error {
	var head [8]byte
	binary.BigEndian.PutUint64(head[:], uint64(n))
	if _, err := s.sink.w.Write(head[:]); err != nil {
		return err
	}
	chunk := s.buf[:64<<10]
	for left := n * floorMsg; left > 0; {
		c := chunk
		if left < len(c) {
			c = c[:left]
		}
		if _, err := s.sink.w.Write(c); err != nil {
			return err
		}
		left -= len(c)
	}
	var ack [1]byte
	_, err := io.ReadFull(s.sink.r, ack[:])
	return err
}

func (s *floorSession) stop() error {
	return errors.Join(s.echo.stop(), s.sink.stop())
}

// pingPong is the round trip: the floor has no actors, and its 64-byte
// exchange is what an actor ping-pong can at best be.
func (s *floorSession) pingPong(ctx context.Context, n int) ([]float64, error) {
	return timeEach(ctx, n, s.roundTrip)
}
