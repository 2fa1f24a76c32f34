package keyring

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/twofold/twofold/internal/atomicfile"
)

// Sealed is one stored value sealed by a Keyring: where it lives (its AAD),
// the id of its data key and its ciphertext.
type Sealed struct {
	Table, Column, Row string
	KeyID              string
	Ciphertext         []byte
}

// AAD returns the additional data the value is bound to.
func (v Sealed) AAD() []byte { return AAD(v.Table, v.Column, v.Row) }

// RotateStore is the storage Rotate works on: the data keys and every sealed
// value. The caller owns storage.
type RotateStore interface {
	Store
	// SealedValues returns every stored sealed value.
	SealedValues(ctx context.Context) ([]Sealed, error)
	// Reseal replaces v's ciphertext and key id if v is still sealed under
	// v.KeyID (a compare-and-set), reporting whether it did.
	Reseal(ctx context.Context, v Sealed, keyID string, ciphertext []byte) (bool, error)
	// DeleteDataKey deletes data key id unless a stored value is still sealed
	// under it, reporting whether it did.
	DeleteDataKey(ctx context.Context, id string) (bool, error)
}

// Step names a point in Rotate, reported to RotateOptions.After.
type Step int

// The steps of a rotation, in order. StepResealed is reported after every
// value resealed: between StepDataKeyReady and StepResealComplete, and later
// for values a server sealed meanwhile under an old data key.
const (
	StepMasterReady       Step = iota + 1 // the key file holds the new primary master key
	StepDataKeyReady                      // a data key wrapped by the primary is stored
	StepResealed                          // one value was resealed under that data key
	StepResealComplete                    // no value is sealed under another data key
	StepDataKeysRetired                   // the other data keys are deleted
	StepMasterKeysRetired                 // the key file holds only the primary master key
)

// String returns the step's name.
func (s Step) String() string {
	switch s {
	case StepMasterReady:
		return "master-ready"
	case StepDataKeyReady:
		return "data-key-ready"
	case StepResealed:
		return "resealed"
	case StepResealComplete:
		return "reseal-complete"
	case StepDataKeysRetired:
		return "data-keys-retired"
	case StepMasterKeysRetired:
		return "master-keys-retired"
	}
	return fmt.Sprintf("step(%d)", int(s))
}

// RotateOptions adjusts Rotate.
type RotateOptions struct {
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Grace is how long after the new data key appeared Rotate waits before
	// deleting the old data keys, so that a server that chose the old key
	// for an enrolment just before has stored its value (which Rotate then
	// reseals). Zero waits not at all.
	Grace time.Duration
	// Sleep waits d (nil: a real timer). Tests return at once.
	Sleep func(d time.Duration) <-chan time.Time
	// After, when set, is called after each step; an error stops Rotate
	// there and is returned. Tests use it to simulate a crash.
	After func(Step) error
}

// RotateResult says what Rotate did. It holds ids, never key material.
type RotateResult struct {
	Master          string // the primary master key at the end
	AddedMaster     bool   // false when Rotate finished an interrupted rotation
	DataKey         string // the data key every value is sealed under at the end
	Resealed        int    // values resealed by this run
	DataKeysDeleted int
	MastersRetired  int
	// Changed reports whether this run changed the key file or the
	// database. When Rotate fails before it did, everything is as it was:
	// running it again fails the same way unless the cause is mended.
	Changed bool
}

// maxPasses bounds how often Rotate scans for values under old keys. Running
// servers switch to the new data key at their next Seal, so values keep
// appearing under old keys only if something is wrong.
const maxPasses = 20

// Rotate rotates the master key in the key file at path and re-encrypts every
// value in s under it (SPEC §4 "Secrets at rest"):
//
//  1. If the file holds one master key, a new one is added and made primary
//     (saved atomically). If it holds more, an earlier rotation was
//     interrupted, and Rotate continues with the current primary.
//  2. A data key wrapped by the primary is ensured (the newest one, the key
//     running servers seal under; created if none).
//  3. Every value sealed under another data key is opened and sealed under it,
//     with the same AAD, by compare-and-set, until none remain.
//  4. After the grace period, the other data keys are deleted (only while no
//     value is sealed under them), and values sealed meanwhile under them are
//     resealed with the copies Rotate holds in memory.
//  5. The other master keys are removed from the file (saved atomically).
//
// At every point each stored value opens with the key file on disk and the
// stored data keys, so Rotate may be interrupted anywhere; running it again
// finishes the job. Two rotations of one key file do not run at once: a lock
// file beside it (path + ".lock") is held throughout.
//
// When path is a symbolic link, the file it leads to is rotated (and
// locked), not the link. The key file keeps its permission bits, owner and
// group (Save); one whose owner and group cannot be kept is refused before
// anything is changed.
//
// The key file's hash key is kept: credential hashes cannot be recomputed.
func Rotate(ctx context.Context, path string, s RotateStore, o RotateOptions) (RotateResult, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = time.After
	}
	// Through a link, the file it leads to is rotated, and locked: others
	// (servers, a rotation) may name it, or another link to it.
	path, err := atomicfile.Target(path)
	if err != nil {
		return RotateResult{}, fmt.Errorf("key file: %w", err)
	}
	if _, err := LoadFile(path); err != nil {
		return RotateResult{}, err // before the lock file is made beside a wrong path
	}
	fi, err := os.Stat(path)
	if err != nil {
		return RotateResult{}, fmt.Errorf("key file: %w", err)
	}
	unlock, err := lockFile(path+".lock", fi)
	if err != nil {
		return RotateResult{}, err
	}
	defer unlock()
	f, err := LoadFile(path) // again: another rotation may have just finished
	if err != nil {
		return RotateResult{}, err
	}
	// A file that cannot be replaced as it is (its owner and group kept) is
	// refused before anything changes.
	tmp, err := f.writeReplacement(path)
	if err != nil {
		return RotateResult{}, err
	}
	os.Remove(tmp)
	r := &rotation{s: s, o: o, f: f, keys: map[string]cipher.AEAD{}}
	return r.run(ctx, path)
}

// rotation is one run of Rotate.
type rotation struct {
	s      RotateStore
	o      RotateOptions
	f      *File
	keys   map[string]cipher.AEAD // every data key seen, including deleted ones
	target WrappedKey
	res    RotateResult
}

func (r *rotation) run(ctx context.Context, path string) (RotateResult, error) {
	// Every stored data key must unwrap before anything is changed: one that
	// does not would be lost.
	if _, err := r.loadKeys(ctx); err != nil {
		return r.res, err
	}

	// 1. The new primary master key.
	if len(r.f.Masters) == 1 {
		r.f.AddMaster(r.o.Now())
		if err := r.f.Save(path); err != nil {
			return r.res, err
		}
		r.res.AddedMaster, r.res.Changed = true, true
	}
	r.res.Master = r.f.Primary
	if err := r.after(StepMasterReady); err != nil {
		return r.res, err
	}

	// 2. A data key under it.
	stored, err := r.loadKeys(ctx)
	if err != nil {
		return r.res, err
	}
	if id, primary := currentKey(stored, r.f, r.keys); primary {
		r.target = findKey(stored, id)
	} else {
		if r.target, err = NewDataKey(ctx, r.f, r.s, r.o.Now()); err != nil {
			return r.res, err
		}
		r.res.Changed = true
		if _, err := r.loadKeys(ctx); err != nil {
			return r.res, err
		}
	}
	r.res.DataKey = r.target.ID
	if err := r.after(StepDataKeyReady); err != nil {
		return r.res, err
	}

	// 3. Every value under it.
	if err := r.reseal(ctx); err != nil {
		return r.res, err
	}
	if err := r.after(StepResealComplete); err != nil {
		return r.res, err
	}

	// 4. Retire the other data keys.
	if wait := r.target.Created.Add(r.o.Grace).Sub(r.o.Now()); wait > 0 {
		select {
		case <-ctx.Done():
			return r.res, ctx.Err()
		case <-r.o.Sleep(wait):
		}
	}
	for pass := 0; ; pass++ {
		if pass == maxPasses {
			return r.res, errors.New("rotate: old data keys are still in use after many passes")
		}
		stored, err := r.loadKeys(ctx)
		if err != nil {
			return r.res, err
		}
		if findKey(stored, r.target.ID).ID == "" {
			return r.res, fmt.Errorf("rotate: data key %s was deleted by someone else; run the rotation again", r.target.ID)
		}
		if len(stored) == 1 {
			break
		}
		for _, w := range stored {
			if w.ID == r.target.ID {
				continue
			}
			ok, err := r.s.DeleteDataKey(ctx, w.ID)
			if err != nil {
				return r.res, fmt.Errorf("delete data key %s: %w", w.ID, err)
			}
			if ok {
				r.res.DataKeysDeleted++
				r.res.Changed = true
			}
		}
		// Values a server sealed under an old key meanwhile: Rotate still
		// holds that key.
		if err := r.reseal(ctx); err != nil {
			return r.res, err
		}
	}
	if err := r.after(StepDataKeysRetired); err != nil {
		return r.res, err
	}

	// 5. Retire the other master keys. No stored data key is wrapped by one.
	if len(r.f.Masters) > 1 {
		var keep []MasterKey
		for _, m := range r.f.Masters {
			if m.ID == r.f.Primary {
				keep = append(keep, m)
			}
		}
		r.res.MastersRetired = len(r.f.Masters) - len(keep)
		r.f.Masters = keep
		if err := r.f.Save(path); err != nil {
			return r.res, err
		}
		r.res.Changed = true
	}
	if err := r.after(StepMasterKeysRetired); err != nil {
		return r.res, err
	}
	// A last look, for a value stored under a deleted key after step 4's scan.
	if err := r.reseal(ctx); err != nil {
		return r.res, err
	}
	return r.res, nil
}

func (r *rotation) after(s Step) error {
	if r.o.After == nil {
		return nil
	}
	return r.o.After(s)
}

// loadKeys reads the stored data keys and unwraps the ones not yet held. Unlike
// a Keyring it fails on a key it cannot unwrap: Rotate must never delete or
// orphan one.
func (r *rotation) loadKeys(ctx context.Context) ([]WrappedKey, error) {
	stored, err := r.s.DataKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("load data keys: %w", err)
	}
	for _, w := range stored {
		if r.keys[w.ID] != nil {
			continue
		}
		mk := r.f.master(w.MasterID)
		if mk == nil {
			return nil, fmt.Errorf("data key %s is wrapped by master key %s, which the key file %s does not hold (is it the servers' key file?)", w.ID, w.MasterID, r.f.path)
		}
		a, err := unwrap(mk, w)
		if err != nil {
			return nil, err
		}
		r.keys[w.ID] = a
	}
	return stored, nil
}

// reseal seals every value not under the target data key under it, scanning
// again until a scan finds none.
func (r *rotation) reseal(ctx context.Context) error {
	target := r.keys[r.target.ID]
	for pass := 0; pass < maxPasses; pass++ {
		values, err := r.s.SealedValues(ctx)
		if err != nil {
			return fmt.Errorf("list sealed values: %w", err)
		}
		left := 0
		for _, v := range values {
			if v.KeyID == r.target.ID {
				continue
			}
			left++
			a := r.keys[v.KeyID]
			if a == nil {
				if _, err := r.loadKeys(ctx); err != nil {
					return err
				}
				if a = r.keys[v.KeyID]; a == nil {
					return fmt.Errorf("%s.%s of %s is sealed under data key %s, which is not stored", v.Table, v.Column, v.Row, v.KeyID)
				}
			}
			pt, err := openWith(a, v.KeyID, v.Ciphertext, v.AAD())
			if err != nil {
				return fmt.Errorf("%s.%s of %s: %w", v.Table, v.Column, v.Row, err)
			}
			nonce := randomBytes(target.NonceSize())
			ct := target.Seal(nonce, nonce, pt, v.AAD())
			clear(pt)
			ok, err := r.s.Reseal(ctx, v, r.target.ID, ct)
			if err != nil {
				return fmt.Errorf("reseal %s.%s of %s: %w", v.Table, v.Column, v.Row, err)
			}
			if !ok {
				continue // changed or deleted meanwhile: the next scan sees it again
			}
			r.res.Resealed++
			r.res.Changed = true
			if err := r.after(StepResealed); err != nil {
				return err
			}
		}
		if left == 0 {
			return nil
		}
	}
	return errors.New("rotate: values keep appearing under old data keys")
}

func findKey(keys []WrappedKey, id string) WrappedKey {
	for _, w := range keys {
		if w.ID == id {
			return w
		}
	}
	return WrappedKey{}
}
