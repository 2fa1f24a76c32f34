package otp

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ParseOATHCSV reads token seeds in the OATH CSV format, one token a line:
//
//	serial,secret-hex[,type[,digits[,counter-or-period[,algorithm]]]]
//
// Fields are separated by commas and trimmed of spaces and tabs; an empty optional field
// takes its default. type is hotp (the default) or totp; digits 6 (the default) or 8;
// counter-or-period is the HOTP counter of the token's next code (default 0) or the TOTP
// period in seconds, 30 (the default) or 60; algorithm is SHA1 (the default), SHA256 or
// SHA512. Blank lines and lines whose first non-blank character is '#' are skipped; lines
// may end in CRLF. The grammar is written down in README.md ("Importing hardware tokens").
//
// The whole file is refused when a line is bad, every bad line reported (a *SeedError
// naming the line, or SeedErrors of them all when there are several), and when it holds no
// token: an import is all or nothing. Errors name the line and the field that is
// wrong but never quote a field's value, not even the serial: in a file whose columns are out
// of order (secret,serial) the first field is a secret.
func ParseOATHCSV(data []byte) ([]Seed, error) {
	if len(data) > MaxSeedFileSize {
		return nil, seedErrorf("the file is larger than %d bytes", MaxSeedFileSize)
	}
	if !utf8.Valid(data) {
		return nil, seedErrorf("the file is not UTF-8 text")
	}
	// A byte order mark, as spreadsheets and some editors write before
	// UTF-8 text, is not part of the first line.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var set seedSet
	var bad SeedErrors
	for n, line := range bytes.Split(data, []byte("\n")) {
		where := fmt.Sprintf("line %d", n+1)
		text := strings.TrimSpace(strings.TrimSuffix(string(line), "\r"))
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		s, err := parseCSVLine(text)
		if err != nil {
			bad = append(bad, &SeedError{Where: where, Err: err})
			continue
		}
		if err := set.add(where, s); err != nil {
			clear(s.Secret)
			var se *SeedError
			if !errors.As(err, &se) {
				se = &SeedError{Where: where, Err: err}
			}
			bad = append(bad, se)
		}
	}
	if len(bad) > 0 {
		// Every bad line is reported, and nothing of the file is kept.
		for i := range set.seeds {
			clear(set.seeds[i].Secret)
		}
		if len(bad) == 1 {
			return nil, bad[0]
		}
		return nil, bad
	}
	if len(set.seeds) == 0 {
		return nil, seedErrorf("the file holds no token")
	}
	return set.seeds, nil
}

// parseCSVLine parses one token line and checks the seed (Seed.check). Its errors name
// the field that is wrong, never its value.
func parseCSVLine(text string) (Seed, error) {
	fields := strings.Split(text, ",")
	for i := range fields {
		fields[i] = strings.Trim(fields[i], " \t")
	}
	var s Seed
	if serial, err := CheckSerial(fields[0]); err == nil {
		s.Serial = serial
	} else {
		return Seed{}, fmt.Errorf("the serial (first field): %w", err)
	}
	if len(fields) < 2 || fields[1] == "" {
		return Seed{}, because(ErrSecret, "no secret (second field): want serial,secret-hex[,type[,digits[,counter-or-period[,algorithm]]]]")
	}
	if len(fields) > 6 {
		return Seed{}, because(ErrSeedFile, "the line has %d fields, at most 6: serial,secret-hex,type,digits,counter-or-period,algorithm", len(fields))
	}
	field := func(i int) string {
		if i < len(fields) {
			return fields[i]
		}
		return ""
	}
	secret, err := hex.DecodeString(fields[1])
	if err != nil {
		return Seed{}, because(ErrSecret, "the secret (second field) is not hexadecimal (an even number of 0-9, a-f)")
	}
	if err := CheckSecret(secret); err != nil {
		clear(secret)
		return Seed{}, fmt.Errorf("the secret (second field): %w", err)
	}
	s.Secret = secret
	fail := func(err error) (Seed, error) {
		clear(secret)
		return Seed{}, err
	}
	s.Type, s.Params = TypeHOTP, Params{Algorithm: SHA1, Digits: 6}
	switch strings.ToLower(field(2)) {
	case "", TypeHOTP:
	case TypeTOTP:
		s.Type, s.Params.Period = TypeTOTP, 30*time.Second
	default:
		return fail(because(ErrUnsupported, "the type (third field) must be hotp or totp"))
	}
	if v := field(3); v != "" {
		d, err := strconv.Atoi(v)
		if err != nil || (d != 6 && d != 8) {
			return fail(because(ErrDigits, "the digits (fourth field) must be 6 or 8"))
		}
		s.Params.Digits = d
	}
	if v := field(4); v != "" {
		n, err := strconv.ParseUint(v, 10, 63)
		if err != nil {
			return fail(because(ErrSeedFile, "the counter or period (fifth field) must be a whole number"))
		}
		if s.Type == TypeHOTP {
			s.Counter = n
		} else if n != 30 && n != 60 {
			return fail(because(ErrPeriod, "the period (fifth field) of a totp token must be 30 or 60"))
		} else {
			s.Params.Period = time.Duration(n) * time.Second
		}
	}
	if v := field(5); v != "" {
		alg, err := ParseAlgorithm(v)
		if err != nil {
			return fail(because(ErrAlgorithm, "the algorithm (sixth field) must be SHA1, SHA256 or SHA512"))
		}
		s.Params.Algorithm = alg
	}
	if err := s.check(); err != nil {
		// Each field was checked above; this is a safety net.
		return fail(err)
	}
	return s, nil
}
