package main

import "testing"

func TestParseCPULine(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	a, ok := parseCPULine("cpu  100 5 50 800 20 3 2 0 40 0")
	if !ok || a.busy != 160 || a.total != 980 {
		t.Fatalf("got %+v, %v; want busy 160 of 980", a, ok)
	}
	b, _ := parseCPULine("cpu  160 5 90 900 30 3 2 0 60 0")
	if got, ok := a.busyUntil(b); !ok || got != 100.0/210.0 {
		t.Fatalf("busy share: got %v, %v; want 100/210", got, ok)
	}
	if _, ok := a.busyUntil(a); ok {
		t.Fatal("no tick in between: got a share")
	}
	for _, line := range []string{"", "cpu0 1 2 3 4 5", "cpu 1 2 x 4 5", "intr 1 2 3 4 5"} {
		if _, ok := parseCPULine(line); ok {
			t.Errorf("parseCPULine(%q): ok, want refused", line)
		}
	}
	// Older kernels print fewer columns.
	if c, ok := parseCPULine("cpu 10 0 10 80"); !ok || c.busy != 20 || c.total != 100 {
		t.Errorf("four columns: got %+v, %v", c, ok)
	}
}
