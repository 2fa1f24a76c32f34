package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// cpuTimes are the machine's CPU time counters, summed over its CPUs, in
// clock ticks.
type cpuTimes struct{ busy, total uint64 }

// readCPUTimes reads the counters from /proc/stat; ok is false where there
// is no such file (not Linux).
func readCPUTimes() (cpuTimes, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return cpuTimes{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return cpuTimes{}, false
	}
	return parseCPULine(sc.Text())
}

// parseCPULine reads the first line of /proc/stat, "cpu user nice system
// idle iowait irq softirq steal guest guest_nice": idle and iowait are idle
// time, the others up to steal busy (guest time is counted in user already).
func parseCPULine(line string) (cpuTimes, bool) {
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return cpuTimes{}, false
	}
	var t cpuTimes
	for i, s := range f[1:min(len(f), 9)] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return cpuTimes{}, false
		}
		t.total += n
		if i != 3 && i != 4 { // idle, iowait
			t.busy += n
		}
	}
	return t, true
}

// busyUntil returns the busy share of the CPU time between t and later; ok
// is false when no tick passed in between.
func (t cpuTimes) busyUntil(later cpuTimes) (float64, bool) {
	if later.total <= t.total || later.busy < t.busy {
		return 0, false
	}
	return float64(later.busy-t.busy) / float64(later.total-t.total), true
}
