//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package pushdevice

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Lock takes an exclusive lock on the state file at path for as long as a
// device watches with it: two watches with one key would each end the
// other's long poll (an instance holds one a device), and both show, and
// answer, the same request. errors.Is(err, ErrLocked) tells that another
// holds it. The kernel drops the lock when the process dies, so a crash
// never leaves it stuck.
func Lock(path string) (unlock func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("device state: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock device state: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
