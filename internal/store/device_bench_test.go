package store_test

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// BenchmarkDeviceRequest measures what a push device's signed request writes
// (TakeDeviceRequest: its ration's token and its nonce, one commit) from 16
// goroutines, each request of one of 1,000 devices with a new nonce.
func BenchmarkDeviceRequest(b *testing.B) {
	for name, dsn := range testenv.DSNs(b) {
		b.Run(name, func(b *testing.B) {
			s := open(b, dsn(b))
			_, factors, _ := benchSecondSteps(b, s, 1000)
			expires := time.Now().Add(time.Hour)
			var next atomic.Int64
			b.SetParallelism(8) // 16 goroutines on 2 CPUs
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					f := factors[i%int64(len(factors))]
					ration := twofold.Bucket{Key: "push:device:" + f, Burst: 1e9, Rate: 1, Now: time.Now()}
					took, fresh, err := s.TakeDeviceRequest(b.Context(), ration, f, strconv.FormatInt(i, 10), expires)
					if err != nil || !took || !fresh {
						b.Errorf("TakeDeviceRequest = %v, %v, %v", took, fresh, err)
						return
					}
				}
			})
		})
	}
}
