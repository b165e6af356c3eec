package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// describeMachine names the hardware and the software versions of a run.
func describeMachine(e *env) (machine, software string) {
	cpu := "unknown CPU"
	if v := firstField("/proc/cpuinfo", "model name"); v != "" {
		cpu = v
	}
	mem := ""
	if v := firstField("/proc/meminfo", "MemTotal"); v != "" {
		var kb int64
		if _, err := fmt.Sscanf(v, "%d kB", &kb); err == nil {
			mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
		}
	}
	var u syscall.Utsname
	kernel := runtime.GOOS
	if syscall.Uname(&u) == nil {
		kernel = fmt.Sprintf("%s %s", cstr(u.Sysname[:]), cstr(u.Release[:]))
	}
	machine = fmt.Sprintf("%d CPUs (%s)%s, %s", runtime.NumCPU(), cpu, mem, kernel)
	software = runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/asynkron/protoactor-go" || d.Path == "google.golang.org/grpc" {
				software += fmt.Sprintf(", %s %s", d.Path, d.Version)
			}
		}
	}
	e.mu.Lock()
	if v := e.versions["mitogen"]; v != "" {
		software += ", " + v
	}
	e.mu.Unlock()
	return machine, software
}

func firstField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func cstr(b []int8) string {
	var s strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		s.WriteByte(byte(c))
	}
	return s.String()
}

// loadAverage returns the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " / ")
}
