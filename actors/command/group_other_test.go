//go:build unix && !linux

package command_test

import "syscall"

// groupMembers reports whether group pgid has a process (a zombie counts
// here: without /proc there is no cheap way to tell).
func groupMembers(pgid int) []int {
	if syscall.Kill(-pgid, 0) == nil {
		return []int{pgid}
	}
	return nil
}
