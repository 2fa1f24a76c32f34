package otp_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/otp"
)

// rfc6030Key is the pre-shared key of RFC 6030 Figure 6.
var rfc6030Key, _ = hex.DecodeString("12345678901234567890123456789012")

func readSeedFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "seeds", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// seedSummary is what a test compares of a seed: its secret as hex.
type seedSummary struct {
	Serial, Manufacturer, Type, Secret string
	Params                             otp.Params
	Counter                            uint64
}

func summarise(seeds []otp.Seed) []seedSummary {
	out := make([]seedSummary, 0, len(seeds))
	for _, s := range seeds {
		out = append(out, seedSummary{s.Serial, s.Manufacturer, s.Type, hex.EncodeToString(s.Secret), s.Params, s.Counter})
	}
	return out
}

var (
	hexSHA1   = hex.EncodeToString(seedSHA1)
	hexSHA256 = hex.EncodeToString(seedSHA256)
)

// TestParseSeedFiles reads the files of testdata/seeds: RFC 6030's own examples, a TOTP
// vendor's file and an OATH CSV file.
func TestParseSeedFiles(t *testing.T) {
	hotp8 := otp.Params{Algorithm: otp.SHA1, Digits: 8}
	tests := []struct {
		file string
		key  []byte
		want []seedSummary
	}{
		// RFC 6030 Figure 3: the secret is "12345678901234567890" in ASCII.
		{"rfc6030-figure3.pskc", nil, []seedSummary{{"987654321", "Manufacturer", "hotp", hexSHA1, hotp8, 0}}},
		// RFC 6030 Figure 6: the same secret, AES-128-CBC encrypted with an HMAC-SHA1 MAC.
		{"rfc6030-figure6.pskc", rfc6030Key, []seedSummary{{"987654321", "Manufacturer", "hotp", hexSHA1, hotp8, 0}}},
		{"totp-mixed.pskc", nil, []seedSummary{
			{"T200-0001", "Example Tokens Ltd", "totp", hexSHA256, otp.Params{Algorithm: otp.SHA256, Digits: 8, Period: time.Minute}, 0},
			{"H100-0002", "", "hotp", hexSHA1, otp.Params{Algorithm: otp.SHA1, Digits: 6}, 42},
		}},
		{"tokens.csv", nil, []seedSummary{
			{"YK-0001", "", "hotp", hexSHA1, otp.Params{Algorithm: otp.SHA1, Digits: 6}, 0},
			{"YK-0002", "", "hotp", hexSHA1, hotp8, 17},
			{"C200-0003", "", "totp", hexSHA256, otp.Params{Algorithm: otp.SHA256, Digits: 6, Period: time.Minute}, 0},
			{"C200-0004", "", "totp", hexSHA1, otp.Params{Algorithm: otp.SHA512, Digits: 6, Period: 30 * time.Second}, 0},
			{"CRLF-0005", "", "hotp", hexSHA1, otp.Params{Algorithm: otp.SHA1, Digits: 6}, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data := readSeedFile(t, tt.file)
			var seeds []otp.Seed
			var err error
			if strings.HasSuffix(tt.file, ".csv") {
				seeds, err = otp.ParseOATHCSV(data)
			} else {
				seeds, err = otp.ParsePSKC(data, tt.key)
			}
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got := summarise(seeds)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseOATHCSVByteOrderMark: a file saved with a UTF-8 byte order mark
// (a spreadsheet's "CSV UTF-8") reads as the same file without it, its
// first line a comment or a token.
func TestParseOATHCSVByteOrderMark(t *testing.T) {
	data := readSeedFile(t, "tokens.csv")
	want, err := otp.ParseOATHCSV(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range [][]byte{data, []byte("YK-9999,3132333435363738393031323334353637383930\n")} {
		plain, err := otp.ParseOATHCSV(file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := otp.ParseOATHCSV(append([]byte("\ufeff"), file...))
		if err != nil {
			t.Fatalf("with a byte order mark: %v", err)
		}
		if fmt.Sprint(summarise(got)) != fmt.Sprint(summarise(plain)) {
			t.Errorf("with a byte order mark: got %+v, want %+v", summarise(got), summarise(plain))
		}
	}
	if len(want) == 0 {
		t.Fatal("fixture: tokens.csv holds no token")
	}
}

// TestRFC6030Codes checks the imported secret of Figures 3 and 6 against RFC 4226
// Appendix D: the 8-digit code of counter 0 ends in its 6-digit 755224.
func TestRFC6030Codes(t *testing.T) {
	for _, f := range []struct {
		file string
		key  []byte
	}{{"rfc6030-figure3.pskc", nil}, {"rfc6030-figure6.pskc", rfc6030Key}} {
		seeds, err := otp.ParsePSKC(readSeedFile(t, f.file), f.key)
		if err != nil {
			t.Fatalf("%s: %v", f.file, err)
		}
		s := seeds[0]
		if got := otp.HOTP(s.Secret, s.Counter, s.Params.Algorithm, s.Params.Digits); got != "84755224" {
			t.Errorf("%s: first code %q, want 84755224", f.file, got)
		}
		if got := otp.HOTP(s.Secret, 1, otp.SHA1, 6); got != "287082" {
			t.Errorf("%s: code of counter 1 %q, want 287082", f.file, got)
		}
	}
}

// pskcDoc is a PSKC document made by the test: packages of plain or encrypted secrets.
type pskcDoc struct {
	key, macKey []byte // nil: plain values
	packages    []string
}

// encrypt returns plaintext AES-CBC encrypted under key with a fixed IV, padded (PKCS #7).
func encrypt(key, plaintext []byte) []byte {
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err)
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	pt := append(bytes.Clone(plaintext), bytes.Repeat([]byte{byte(pad)}, pad)...)
	out := make([]byte, aes.BlockSize+len(pt))
	for i := range aes.BlockSize {
		out[i] = byte(0xa0 + i)
	}
	cipher.NewCBCEncrypter(block, out[:aes.BlockSize]).CryptBlocks(out[aes.BlockSize:], pt)
	return out
}

// secretXML returns the Secret element of secret: plain, or encrypted with its MAC.
func (d pskcDoc) secretXML(secret []byte) string {
	if d.key == nil {
		return "<Secret><PlainValue>" + base64.StdEncoding.EncodeToString(secret) + "</PlainValue></Secret>"
	}
	ct := encrypt(d.key, secret)
	m := hmac.New(sha1.New, d.macKey)
	m.Write(ct)
	return `<Secret><EncryptedValue><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>` +
		"<xenc:CipherData><xenc:CipherValue>" + base64.StdEncoding.EncodeToString(ct) + "</xenc:CipherValue></xenc:CipherData></EncryptedValue>" +
		"<ValueMAC>" + base64.StdEncoding.EncodeToString(m.Sum(nil)) + "</ValueMAC></Secret>"
}

// pkg returns a KeyPackage of serial with the given Key algorithm, parameters and data.
func (d pskcDoc) pkg(serial, alg, params, data string, secret []byte) string {
	dev := ""
	if serial != "" {
		dev = "<DeviceInfo><Manufacturer>Acme</Manufacturer><SerialNo>" + serial + "</SerialNo></DeviceInfo>"
	}
	return "<KeyPackage>" + dev + `<Key Id="k" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:` + alg + `">` + params +
		"<Data>" + d.secretXML(secret) + data + "</Data></Key></KeyPackage>"
}

func (d pskcDoc) bytes() []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">`)
	if d.key != nil {
		b.WriteString(`<EncryptionKey><ds:KeyName>Pre-shared-key</ds:KeyName></EncryptionKey><MACMethod Algorithm="http://www.w3.org/2000/09/xmldsig#hmac-sha1"><MACKey>` +
			`<xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/><xenc:CipherData><xenc:CipherValue>` +
			base64.StdEncoding.EncodeToString(encrypt(d.key, d.macKey)) + `</xenc:CipherValue></xenc:CipherData></MACKey></MACMethod>`)
	}
	for _, p := range d.packages {
		b.WriteString(p)
	}
	b.WriteString("</KeyContainer>")
	return []byte(b.String())
}

// TestParsePSKCEncrypted reads a document encrypted by the test under another key, with
// TOTP and HOTP keys, and checks each way a key or MAC can be wrong.
func TestParsePSKCEncrypted(t *testing.T) {
	key := []byte("0123456789abcdef")
	d := pskcDoc{key: key, macKey: []byte("a mac key of twenty!")}
	d.packages = []string{
		d.pkg("E-1", "totp", `<AlgorithmParameters><Suite>SHA512</Suite><ResponseFormat Length="6"/></AlgorithmParameters>`,
			"<TimeInterval><PlainValue>30</PlainValue></TimeInterval>", seedSHA512),
		d.pkg("E-2", "hotp", "", "<Counter><PlainValue>7</PlainValue></Counter>", seedSHA1),
	}
	doc := d.bytes()
	seeds, err := otp.ParsePSKC(doc, key)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := []seedSummary{
		{"E-1", "Acme", "totp", hex.EncodeToString(seedSHA512), otp.Params{Algorithm: otp.SHA512, Digits: 6, Period: 30 * time.Second}, 0},
		{"E-2", "Acme", "hotp", hexSHA1, otp.Params{Algorithm: otp.SHA1, Digits: 6}, 7},
	}
	if got := summarise(seeds); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}

	tampered := bytes.Replace(doc, []byte("<ValueMAC>"), []byte("<ValueMAC>AAAA"), 1)
	noMAC := pskcDoc{key: key, macKey: d.macKey}
	noMAC.packages = []string{strings.Replace(d.packages[1], "<ValueMAC>", "<Other>", 1)}
	noMAC.packages[0] = strings.Replace(noMAC.packages[0], "</ValueMAC>", "</Other>", 1)
	tests := []struct {
		name string
		doc  []byte
		key  []byte
		want error
	}{
		{"a secret in the clear beside encrypted ones", pskcDoc{key: key, macKey: d.macKey, packages: []string{d.packages[0], pskcDoc{}.pkg("E-3", "hotp", "", "", seedSHA1)}}.bytes(), key, otp.ErrSeedMAC},
		{"every secret in the clear, a key given", pskcDoc{packages: []string{pskcDoc{}.pkg("E-3", "hotp", "", "", seedSHA1)}}.bytes(), key, otp.ErrSeedKey},
		{"no key", doc, nil, otp.ErrSeedKey},
		{"wrong key", doc, []byte("fedcba9876543210"), otp.ErrSeedKey},
		{"key of another size", doc, bytes.Repeat([]byte{1}, 32), otp.ErrSeedKey},
		{"bad MAC", tampered, key, otp.ErrSeedMAC},
		{"no MAC", noMAC.bytes(), key, otp.ErrSeedMAC},
		{"RFC 6030 Figure 6, wrong key", readSeedFile(t, "rfc6030-figure6.pskc"), key, otp.ErrSeedKey},
		{"RFC 6030 Figure 6, changed ciphertext", bytes.Replace(readSeedFile(t, "rfc6030-figure6.pskc"), []byte("OD+cIHItlB3W"), []byte("OD+cIHItlB3X"), 1), rfc6030Key, otp.ErrSeedMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := otp.ParsePSKC(tt.doc, tt.key)
			wantSeedErr(t, err, tt.want)
		})
	}
}

// wantSeedErr fails unless err wraps want and ErrSeedFile, and holds no secret of the tests.
func wantSeedErr(tb testing.TB, err, want error) {
	tb.Helper()
	if !errors.Is(err, want) || !errors.Is(err, otp.ErrSeedFile) {
		tb.Fatalf("got %v, want an error wrapping %v and ErrSeedFile", err, want)
	}
	for _, s := range [][]byte{seedSHA1, seedSHA256, seedSHA512} {
		if strings.Contains(err.Error(), string(s[:12])) || strings.Contains(err.Error(), hex.EncodeToString(s[:6])) {
			tb.Errorf("error %q holds a secret", err)
		}
	}
}

func TestParsePSKCRejects(t *testing.T) {
	d := pskcDoc{}
	hotp := func(serial, params, data string) string { return d.pkg(serial, "hotp", params, data, seedSHA1) }
	doc := func(pkgs ...string) []byte { return pskcDoc{packages: pkgs}.bytes() }
	tests := []struct {
		name string
		doc  []byte
		want error
	}{
		{"RFC 6030 Figure 2: no serial", readSeedFile(t, "rfc6030-figure2.pskc"), otp.ErrSerial},
		{"not XML", []byte("serial,secret"), otp.ErrSeedFile},
		{"another root", []byte(`<KeyContainer Version="1.0" xmlns="urn:example"><KeyPackage/></KeyContainer>`), otp.ErrSeedFile},
		{"another version", bytes.Replace(doc(hotp("S1", "", "")), []byte(`Version="1.0"`), []byte(`Version="2.0"`), 1), otp.ErrUnsupported},
		{"no packages", doc(), otp.ErrSeedFile},
		{"OCRA", doc(d.pkg("S1", "ocra", "", "", seedSHA1)), otp.ErrAlgorithm},
		{"unknown suite", doc(hotp("S1", "<AlgorithmParameters><Suite>MD5</Suite></AlgorithmParameters>", "")), otp.ErrAlgorithm},
		{"7 digits", doc(hotp("S1", `<AlgorithmParameters><ResponseFormat Length="7" Encoding="DECIMAL"/></AlgorithmParameters>`, "")), otp.ErrDigits},
		{"10 digits", doc(hotp("S1", `<AlgorithmParameters><ResponseFormat Length="10" Encoding="DECIMAL"/></AlgorithmParameters>`, "")), otp.ErrDigits},
		{"hex codes", doc(hotp("S1", `<AlgorithmParameters><ResponseFormat Length="6" Encoding="HEXADECIMAL"/></AlgorithmParameters>`, "")), otp.ErrUnsupported},
		{"PIN prepended", doc(strings.Replace(hotp("S1", "", ""), "</Data>", `</Data><Policy><PINPolicy PINUsageMode="Prepend"/></Policy>`, 1)), otp.ErrUnsupported},
		{"not for OTP", doc(strings.Replace(hotp("S1", "", ""), "</Data>", `</Data><Policy><KeyUsage>Encrypt</KeyUsage></Policy>`, 1)), otp.ErrUnsupported},
		{"TOTP period 45", doc(d.pkg("S1", "totp", "", "<TimeInterval><PlainValue>45</PlainValue></TimeInterval>", seedSHA1)), otp.ErrPeriod},
		{"TOTP time origin", doc(d.pkg("S1", "totp", "", "<Time><PlainValue>100</PlainValue></Time>", seedSHA1)), otp.ErrUnsupported},
		{"counter not a number", doc(hotp("S1", "", "<Counter><PlainValue>-1</PlainValue></Counter>")), otp.ErrSeedFile},
		{"short secret", doc(d.pkg("S1", "hotp", "", "", []byte("1234"))), otp.ErrSecret},
		{"secret not base64", doc(strings.Replace(hotp("S1", "", ""), "MTIz", "!!!!", 1)), otp.ErrSecret},
		{"no secret", doc(strings.Replace(hotp("S1", "", ""), "<Secret>", "<Other>", 1)), otp.ErrSeedFile},
		{"blank serial", doc(hotp("  ", "", "")), otp.ErrSerial},
		{"serial with a line break", doc(hotp("A&#10;B", "", "")), otp.ErrSerial},
		{"serial of a Hangul filler", doc(hotp("\u3164", "", "")), otp.ErrSerial},
		{"serial with a blank braille pattern", doc(hotp("S\u28001", "", "")), otp.ErrSerial},
		{"serial with a private-use character", doc(hotp("S\ue0011", "", "")), otp.ErrSerial},
		{"repeated serial", doc(hotp("S1", "", ""), hotp("S2", "", ""), hotp("S1", "", "")), otp.ErrSerial},
		{"encrypted without a key", readSeedFile(t, "rfc6030-figure6.pskc"), otp.ErrSeedKey},
		{"password-derived key", bytes.Replace(doc(hotp("S1", "", "")), []byte("<KeyPackage>"), []byte("<EncryptionKey><DerivedKey/></EncryptionKey><KeyPackage>"), 1), otp.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seeds, err := otp.ParsePSKC(tt.doc, nil)
			if seeds != nil {
				t.Errorf("got %d seeds with the error, want none", len(seeds))
			}
			wantSeedErr(t, err, tt.want)
		})
	}
	// The error names the package and, when it is fit to show, the serial.
	_, err := otp.ParsePSKC(doc(hotp("S1", "", ""), hotp("S2", `<AlgorithmParameters><ResponseFormat Length="7"/></AlgorithmParameters>`, "")), nil)
	var se *otp.SeedError
	if !errors.As(err, &se) || se.Where != "KeyPackage 2" || se.Serial != "S2" {
		t.Errorf("got %#v, want a SeedError of KeyPackage 2, serial S2", err)
	}
}

func TestParseOATHCSVRejects(t *testing.T) {
	const secret = "3132333435363738393031323334353637383930"
	tests := []struct {
		name  string
		input string
		want  error
		line  string
	}{
		{"empty", "", otp.ErrSeedFile, ""},
		{"only comments", "# nothing\n\n", otp.ErrSeedFile, ""},
		{"no secret", "S1\n", otp.ErrSecret, "line 1"},
		{"empty secret", "S1,,hotp\n", otp.ErrSecret, "line 1"},
		{"odd hex", "S1,313\n", otp.ErrSecret, "line 1"},
		{"not hex", "S1,zz" + secret[2:] + "\n", otp.ErrSecret, "line 1"},
		{"short secret", "S1,31323334\n", otp.ErrSecret, "line 1"},
		{"1-byte key padded with zeros", "S1,01000000000000000000000000000000\n", otp.ErrSecret, "line 1"},
		{"all-zero secret", "S1,0000000000000000000000000000000000000000\n", otp.ErrSecret, "line 1"},
		{"weak secret after a good one", "S1," + secret + "\nS2,31323334353637383930310000000000\n", otp.ErrSecret, "line 2"},
		{"unknown type", "S1," + secret + ",ocra\n", otp.ErrUnsupported, "line 1"},
		{"7 digits", "S1," + secret + ",hotp,7\n", otp.ErrDigits, "line 1"},
		{"digits not a number", "S1," + secret + ",hotp,six\n", otp.ErrDigits, "line 1"},
		{"negative counter", "S1," + secret + ",hotp,6,-1\n", otp.ErrSeedFile, "line 1"},
		{"period 45", "S1," + secret + ",totp,6,45\n", otp.ErrPeriod, "line 1"},
		{"unknown algorithm", "S1," + secret + ",totp,6,30,MD5\n", otp.ErrAlgorithm, "line 1"},
		{"seven fields", "S1," + secret + ",totp,6,30,SHA1,x\n", otp.ErrSeedFile, "line 1"},
		{"no serial", "," + secret + "\n", otp.ErrSerial, "line 1"},
		{"repeated serial", "S1," + secret + "\n# c\nS1," + secret + "\n", otp.ErrSerial, "line 3"},
		{"bad line after good ones", "S1," + secret + "\nS2," + secret + ",hotp,9\n", otp.ErrDigits, "line 2"},
		{"not UTF-8", "S\xff1," + secret + "\n", otp.ErrSeedFile, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seeds, err := otp.ParseOATHCSV([]byte(tt.input))
			if seeds != nil {
				t.Errorf("got %d seeds with the error, want none", len(seeds))
			}
			wantSeedErr(t, err, tt.want)
			var se *otp.SeedError
			if tt.line != "" && (!errors.As(err, &se) || se.Where != tt.line) {
				t.Errorf("got %v, want an error at %s", err, tt.line)
			}
			if strings.Contains(err.Error(), secret[:10]) {
				t.Errorf("error %q quotes the secret", err)
			}
		})
	}
}

// TestParseOATHCSVSwappedColumns: a file written secret,serial instead of serial,secret is
// refused by the line and the field that is wrong, never by quoting a field, which would
// print the secret (the first field) into the operator's terminal or page.
func TestParseOATHCSVSwappedColumns(t *testing.T) {
	const (
		secret  = "3132333435363738393031323334353637383932"
		secret2 = "4142434445464748494a4b4c4d4e4f5051525354"
	)
	tests := []struct {
		name  string
		input string
		want  error
		line  string
	}{
		{"serial not hex", secret + ",FOB-3\n", otp.ErrSecret, "line 1"},
		{"serial of hex digits", secret + ",123456\n", otp.ErrSecret, "line 1"},
		{"serial of hex digits, totp", secret + ",00112233,totp,6,30\n", otp.ErrSecret, "line 1"},
		{"after a good line", "FOB-1," + secret2 + "\n" + secret + ",FOB-2\n", otp.ErrSecret, "line 2"},
		{"bad digits", secret + "," + secret2 + ",hotp,7\n", otp.ErrDigits, "line 1"},
		{"bad period", secret + "," + secret2 + ",totp,6,45\n", otp.ErrPeriod, "line 1"},
		{"bad type", secret + "," + secret2 + ",ocra\n", otp.ErrUnsupported, "line 1"},
		{"bad algorithm", secret + "," + secret2 + ",totp,6,30,MD5\n", otp.ErrAlgorithm, "line 1"},
		{"seven fields", secret + "," + secret2 + ",totp,6,30,SHA1,x\n", otp.ErrSeedFile, "line 1"},
		{"the same first field twice", secret + "," + secret2 + "\n" + secret + "," + secret2 + "\n", otp.ErrSerial, "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seeds, err := otp.ParseOATHCSV([]byte(tt.input))
			if seeds != nil {
				t.Errorf("got %d seeds with the error, want none", len(seeds))
			}
			wantSeedErr(t, err, tt.want)
			var se *otp.SeedError
			if !errors.As(err, &se) || se.Where != tt.line || se.Serial != "" {
				t.Errorf("got %#v, want an error at %s naming no serial", err, tt.line)
			}
			for _, s := range []string{secret, secret2} {
				for i := 0; i+8 <= len(s); i += 8 {
					if strings.Contains(strings.ToLower(err.Error()), s[i:i+8]) {
						t.Fatalf("error %q quotes part of a secret", err)
					}
				}
			}
		})
	}
}

// TestSeedRedactsSecret: a seed prints and logs without its secret.
func TestSeedRedactsSecret(t *testing.T) {
	s := otp.Seed{Serial: "S1", Type: otp.TypeHOTP, Secret: []byte("super secret value!!"), Params: otp.DefaultParams()}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("seed", "seed", s)
	for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s", s, s, s, s), logged.String()} {
		if strings.Contains(out, "super secret") || strings.Contains(out, hex.EncodeToString(s.Secret)[:10]) || !strings.Contains(out, "[redacted]") {
			t.Errorf("printed %q", out)
		}
	}
}

func FuzzParsePSKC(f *testing.F) {
	f.Add(readSeedFile(f, "rfc6030-figure3.pskc"))
	f.Add(readSeedFile(f, "totp-mixed.pskc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		seeds, err := otp.ParsePSKC(data, nil)
		if err == nil && len(seeds) == 0 {
			t.Error("no error and no seeds")
		}
	})
}

func FuzzParseOATHCSV(f *testing.F) {
	f.Add(readSeedFile(f, "tokens.csv"))
	f.Fuzz(func(t *testing.T, data []byte) {
		seeds, err := otp.ParseOATHCSV(data)
		if err == nil && len(seeds) == 0 {
			t.Error("no error and no seeds")
		}
	})
}

// TestParseOATHCSVEveryBadLine: a file with several bad lines is refused
// naming each of them, in order, with what is wrong and without a value
// from it; no seed is returned, the good lines' neither.
func TestParseOATHCSVEveryBadLine(t *testing.T) {
	const secret = "3132333435363738393031323334353637383930"
	input := "S1," + secret + "\n" +
		"S2,31323334\n" + // short secret
		"# a comment\n" +
		"S3," + secret[:38] + "99,hotp,7\n" + // 7 digits
		"S4," + secret[:38] + "98\n" +
		"S1," + secret[:38] + "97\n" + // S1 again
		"S5," + secret[:38] + "96,totp,6,45,SHA1\n" // period 45
	seeds, err := otp.ParseOATHCSV([]byte(input))
	if seeds != nil {
		t.Errorf("got %d seeds with the error, want none", len(seeds))
	}
	var list otp.SeedErrors
	if !errors.As(err, &list) {
		t.Fatalf("got %v, want SeedErrors", err)
	}
	want := []struct {
		where string
		cause error
	}{{"line 2", otp.ErrSecret}, {"line 4", otp.ErrDigits}, {"line 6", otp.ErrSerial}, {"line 7", otp.ErrPeriod}}
	if len(list) != len(want) {
		t.Fatalf("got %d bad lines (%v), want %d", len(list), err, len(want))
	}
	for i, w := range want {
		if list[i].Where != w.where || !errors.Is(list[i], w.cause) {
			t.Errorf("bad line %d: got %s (%v), want %s, %v", i, list[i].Where, list[i].Err, w.where, w.cause)
		}
		if !strings.Contains(err.Error(), w.where+":") {
			t.Errorf("error %q does not name %s", err, w.where)
		}
	}
	if !errors.Is(err, otp.ErrSeedFile) || !errors.Is(err, otp.ErrPeriod) {
		t.Errorf("got %v, want it to wrap ErrSeedFile and each cause", err)
	}
	for _, v := range []string{secret[:10], "31323334", "S1", "S3"} {
		if strings.Contains(err.Error(), v) {
			t.Errorf("error %q quotes %q", err, v)
		}
	}
}
