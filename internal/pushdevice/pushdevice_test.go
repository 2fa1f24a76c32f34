package pushdevice

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/factor/push"
)

func TestErrorWait(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 10, 0, time.UTC)
	for _, tc := range []struct {
		name, retryAfter string
		want             time.Duration
	}{
		{"none", "", 0},
		{"seconds", "7", 7 * time.Second},
		{"seconds with spaces", " 120 ", 2 * time.Minute},
		{"zero", "0", 0},
		{"date ahead", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"date past", now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"negative", "-5", 0},
		{"fraction", "1.5", 0},
		{"garbage", "soon", 0},
		{"too large", "99999999999999999999", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &Error{Status: 503, RetryAfter: tc.retryAfter}
			if got := e.Wait(now); got != tc.want {
				t.Errorf("Wait with Retry-After %q = %v, want %v", tc.retryAfter, got, tc.want)
			}
		})
	}
}

func TestErrorWithoutProblem(t *testing.T) {
	e := &Error{Status: 502}
	if got, want := e.Error(), "server answered 502: Bad Gateway"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestSignedRequestSentOnce: a server (or an L4 balancer in front of one)
// that drops a kept-alive connection once it has read the device's second
// poll, without answering. Go's transport would send the same GET again on a
// new connection, with the same nonce, which a Twofold server refuses as a
// replay and records in the owner's log as one; the device's client sends
// it once, and its caller sees the broken connection. Real HTTP on
// loopback; the listener speaks just enough HTTP/1.1.
func TestSignedRequestSentOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var seen []string // the Authorization of each request that arrived
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					mu.Lock()
					seen = append(seen, req.Header.Get("Authorization"))
					n := len(seen)
					mu.Unlock()
					if n >= 2 { // taken, and the instance dies
						c.(*net.TCPConn).SetLinger(0)
						return
					}
					fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"challenges\":[]}")
				}
			}()
		}
	}()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{State: State{Server: "http://" + ln.Addr().String(), DeviceID: "dev", Key: push.Encode(priv.Seed())}, HTTP: &http.Client{}}
	if _, err := c.Challenges(t.Context(), time.Second); err != nil {
		t.Fatalf("first poll: %v", err)
	}
	if _, err := c.Challenges(t.Context(), time.Second); err == nil {
		t.Fatal("second poll: no error, although its connection was dropped")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Errorf("%d requests arrived, want 2: the transport sent the signed poll again", len(seen))
	}
}
