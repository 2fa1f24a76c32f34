package otp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// PSKC (RFC 6030) names.
const (
	pskcNamespace = "urn:ietf:params:xml:ns:keyprov:pskc"
	pskcHOTP      = "urn:ietf:params:xml:ns:keyprov:pskc:hotp"
	pskcTOTP      = "urn:ietf:params:xml:ns:keyprov:pskc:totp"
	xmlencAES128  = "http://www.w3.org/2001/04/xmlenc#aes128-cbc"
	xmlencAES192  = "http://www.w3.org/2001/04/xmlenc#aes192-cbc"
	xmlencAES256  = "http://www.w3.org/2001/04/xmlenc#aes256-cbc"
	dsigHMACSHA1  = "http://www.w3.org/2000/09/xmldsig#hmac-sha1"
	dsigHMAC256   = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256"
	dsigHMAC512   = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512"
)

// The parts of a PSKC document that ParsePSKC reads. Element names match in any namespace;
// the root's namespace is checked.
type pskcContainer struct {
	XMLName       xml.Name
	Version       string `xml:"Version,attr"`
	EncryptionKey *struct {
		KeyName    string    `xml:"KeyName"`
		DerivedKey *struct{} `xml:"DerivedKey"`
		X509Data   *struct{} `xml:"X509Data"`
	} `xml:"EncryptionKey"`
	MACMethod *struct {
		Algorithm string         `xml:"Algorithm,attr"`
		MACKey    *pskcEncrypted `xml:"MACKey"`
	} `xml:"MACMethod"`
	Packages []pskcPackage `xml:"KeyPackage"`
}

type pskcPackage struct {
	DeviceInfo struct {
		Manufacturer string `xml:"Manufacturer"`
		SerialNo     string `xml:"SerialNo"`
	} `xml:"DeviceInfo"`
	Keys []pskcKey `xml:"Key"`
}

type pskcKey struct {
	Algorithm  string `xml:"Algorithm,attr"`
	Parameters struct {
		Suite          string `xml:"Suite"`
		ResponseFormat *struct {
			Length   string `xml:"Length,attr"`
			Encoding string `xml:"Encoding,attr"`
		} `xml:"ResponseFormat"`
	} `xml:"AlgorithmParameters"`
	Data struct {
		Secret       *pskcValue `xml:"Secret"`
		Counter      *pskcValue `xml:"Counter"`
		Time         *pskcValue `xml:"Time"`
		TimeInterval *pskcValue `xml:"TimeInterval"`
	} `xml:"Data"`
	Policy struct {
		PINPolicy *struct {
			PINUsageMode string `xml:"PINUsageMode,attr"`
		} `xml:"PINPolicy"`
		KeyUsage []string `xml:"KeyUsage"`
	} `xml:"Policy"`
}

// pskcValue is a PSKC value: plain, or encrypted with its MAC (RFC 6030 §4.2, §6.1.1).
type pskcValue struct {
	PlainValue     *string        `xml:"PlainValue"`
	EncryptedValue *pskcEncrypted `xml:"EncryptedValue"`
	ValueMAC       string         `xml:"ValueMAC"`
}

// pskcEncrypted is an xenc:EncryptedData-like value: the method and the IV-prefixed ciphertext.
type pskcEncrypted struct {
	Method struct {
		Algorithm string `xml:"Algorithm,attr"`
	} `xml:"EncryptionMethod"`
	CipherValue string `xml:"CipherData>CipherValue"`
}

// ParsePSKC reads token seeds from a PSKC document (RFC 6030): a KeyContainer of
// KeyPackages, each with DeviceInfo (Manufacturer, SerialNo) and one Key whose Algorithm is
// the HOTP or TOTP profile (RFC 6030 §10.1, §10.2), with AlgorithmParameters (Suite: SHA1,
// SHA256 or SHA512, default SHA1; ResponseFormat Length 6 or 8 and Encoding DECIMAL, default 6)
// and Data: Secret, Counter (HOTP), TimeInterval (TOTP, 30 or 60, default 30) and Time (the
// time origin; only 0 can be honoured).
//
// Values are plain (PlainValue), or encrypted with the pre-shared key (RFC 6030 §6.1):
// AES-CBC with the IV before the ciphertext, the key's size naming the AES (16 bytes for
// aes128-cbc), each value's ValueMAC an HMAC (MACMethod hmac-sha1, or hmac-sha256/512) over
// IV and ciphertext under the MACKey, itself encrypted with the pre-shared key. key is nil
// for a document without encrypted values. Every encrypted value must carry its MAC, which
// is checked, in constant time, before the value is decrypted.
//
// The document is refused whole at the first KeyPackage Twofold cannot honour (a *SeedError
// naming it): another algorithm, no serial number, a serial seen before in the document,
// digits other than 6 or 8, a secret under 16 bytes, a PIN to send with the code, a key
// derived from a password or sent under a public key, a wrong key or MAC. Errors wrap the
// package's Err… values and never hold key material.
func ParsePSKC(data, key []byte) ([]Seed, error) {
	if len(data) > MaxSeedFileSize {
		return nil, seedErrorf("the file is larger than %d bytes", MaxSeedFileSize)
	}
	var c pskcContainer
	dec := xml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&c); err != nil {
		return nil, seedErrorf("not a PSKC document: malformed XML")
	}
	if c.XMLName.Local != "KeyContainer" || c.XMLName.Space != pskcNamespace {
		return nil, seedErrorf("not a PSKC document: the root element is not a KeyContainer in %s", pskcNamespace)
	}
	if c.Version != "1.0" {
		return nil, because(errors.Join(ErrSeedFile, ErrUnsupported), "PSKC version %q is not supported (Twofold reads 1.0)", truncateAttr(c.Version))
	}
	if ek := c.EncryptionKey; ek != nil && (ek.DerivedKey != nil || ek.X509Data != nil) {
		return nil, because(errors.Join(ErrSeedFile, ErrUnsupported), "values encrypted under a key derived from a password or a public key are not supported; export them under a pre-shared key")
	}
	o := &pskcOpener{key: key, encrypted: c.EncryptionKey != nil || c.MACMethod != nil}
	if mm := c.MACMethod; mm != nil {
		o.macAlg, o.macKeyValue = mm.Algorithm, mm.MACKey
	}
	if len(c.Packages) == 0 {
		return nil, seedErrorf("the document holds no KeyPackage")
	}
	set := seedSet{nameSerial: true}
	for i, p := range c.Packages {
		where := fmt.Sprintf("KeyPackage %d", i+1)
		s, err := o.seed(p)
		if err != nil {
			serial, bad := CheckSerial(p.DeviceInfo.SerialNo)
			if bad != nil {
				serial = ""
			}
			return nil, &SeedError{Where: where, Serial: serial, Err: err}
		}
		if err := set.add(where, s); err != nil {
			return nil, err
		}
	}
	return set.seeds, nil
}

// seed reads one KeyPackage.
func (o *pskcOpener) seed(p pskcPackage) (Seed, error) {
	if len(p.Keys) != 1 {
		return Seed{}, because(ErrSeedFile, "a KeyPackage holds %d keys, want one", len(p.Keys))
	}
	k := p.Keys[0]
	s := Seed{Serial: p.DeviceInfo.SerialNo, Manufacturer: cleanText(p.DeviceInfo.Manufacturer, 64)}
	switch strings.Replace(strings.TrimSpace(k.Algorithm), "#", ":", 1) {
	case pskcHOTP:
		s.Type = TypeHOTP
	case pskcTOTP:
		s.Type, s.Params.Period = TypeTOTP, 30*time.Second
	default:
		return s, because(ErrAlgorithm, "key algorithm %q is not supported: Twofold takes %s and %s", truncateAttr(k.Algorithm), pskcHOTP, pskcTOTP)
	}
	if _, err := CheckSerial(s.Serial); err != nil {
		return s, err
	}
	alg, err := suiteAlgorithm(k.Parameters.Suite)
	if err != nil {
		return s, err
	}
	s.Params.Algorithm, s.Params.Digits = alg, 6
	if rf := k.Parameters.ResponseFormat; rf != nil {
		if e := strings.ToUpper(strings.TrimSpace(rf.Encoding)); e != "" && e != "DECIMAL" {
			return s, because(ErrUnsupported, "codes in %s encoding are not supported: Twofold takes DECIMAL", truncateAttr(rf.Encoding))
		}
		d, err := strconv.Atoi(strings.TrimSpace(rf.Length))
		if err != nil {
			return s, because(ErrDigits, "ResponseFormat Length is not a number")
		}
		s.Params.Digits = d
	}
	if pp := k.Policy.PINPolicy; pp != nil {
		if mode := strings.TrimSpace(pp.PINUsageMode); mode != "" && mode != "Local" {
			return s, because(ErrUnsupported, "PIN usage mode %s (a PIN sent with the code) is not supported", truncateAttr(mode))
		}
	}
	if len(k.Policy.KeyUsage) > 0 && !containsFold(k.Policy.KeyUsage, "OTP") {
		return s, because(ErrUnsupported, "the key's usage does not include OTP")
	}
	if k.Data.Secret == nil {
		return s, because(ErrSecret, "the key has no Secret")
	}
	if s.Secret, err = o.value(k.Data.Secret, "Secret"); err != nil {
		return s, err
	}
	if v := k.Data.Counter; v != nil && s.Type == TypeHOTP {
		if s.Counter, err = o.number(v, "Counter"); err != nil {
			return s, err
		}
	}
	if v := k.Data.Time; v != nil && s.Type == TypeTOTP {
		t0, err := o.number(v, "Time")
		if err != nil {
			return s, err
		}
		if t0 != 0 {
			return s, because(ErrUnsupported, "a TOTP time origin (Time) other than 0 is not supported")
		}
	}
	if v := k.Data.TimeInterval; v != nil && s.Type == TypeTOTP {
		n, err := o.number(v, "TimeInterval")
		if err != nil {
			return s, err
		}
		if n != 30 && n != 60 {
			return s, because(ErrPeriod, "TimeInterval must be 30 or 60")
		}
		s.Params.Period = time.Duration(n) * time.Second
	}
	return s, nil
}

// suiteAlgorithm reads AlgorithmParameters/Suite (RFC 6030 §4.3.4), which for HOTP and
// TOTP names the hash: "SHA1", "HMAC-SHA256", "SHA-512" … Absent, it is SHA1.
func suiteAlgorithm(suite string) (Algorithm, error) {
	suite = strings.TrimSpace(suite)
	if suite == "" {
		return SHA1, nil
	}
	name := suite
	if len(name) > 5 && strings.EqualFold(name[:5], "HMAC-") {
		name = name[5:]
	}
	alg, err := ParseAlgorithm(name)
	if err != nil {
		return 0, because(ErrAlgorithm, "suite %q is not supported: want SHA1, SHA256 or SHA512", truncateAttr(suite))
	}
	return alg, nil
}

func containsFold(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(strings.TrimSpace(s), v) {
			return true
		}
	}
	return false
}

// pskcOpener opens a document's values with its pre-shared key and MAC key.
type pskcOpener struct {
	key         []byte
	encrypted   bool // the document names an encryption key or a MAC method
	macAlg      string
	macKeyValue *pskcEncrypted
	macKey      []byte // opened on first use
}

// number reads a value holding a decimal number (Counter, Time, TimeInterval).
func (o *pskcOpener) number(v *pskcValue, name string) (uint64, error) {
	if v.EncryptedValue != nil {
		b, err := o.value(v, name)
		if err != nil {
			return 0, err
		}
		// RFC 6030 §6.1: an encrypted integer is its big-endian bytes.
		if len(b) == 0 || len(b) > 8 {
			return 0, because(ErrSeedFile, "%s is not a number", name)
		}
		var n uint64
		for _, c := range b {
			n = n<<8 | uint64(c)
		}
		if n > 1<<62 {
			return 0, because(ErrSeedFile, "%s is too large", name)
		}
		return n, nil
	}
	if v.PlainValue == nil {
		return 0, because(ErrSeedFile, "%s has no value", name)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(*v.PlainValue), 10, 62)
	if err != nil {
		return 0, because(ErrSeedFile, "%s is not a whole number", name)
	}
	return n, nil
}

// value returns a value's bytes: a PlainValue's base64, or an EncryptedValue checked
// against its ValueMAC and decrypted.
func (o *pskcOpener) value(v *pskcValue, name string) ([]byte, error) {
	switch {
	case v.EncryptedValue != nil:
		mac, err := decodeBase64(v.ValueMAC)
		if err != nil || len(mac) == 0 {
			return nil, because(ErrSeedMAC, "the encrypted %s has no ValueMAC", name)
		}
		return o.open(v.EncryptedValue, mac, name)
	case v.PlainValue != nil && name == "Secret" && o.encrypted:
		// Whoever changed the file on its way, without the key, could put
		// a secret of their choosing in the clear beside encrypted ones.
		return nil, because(ErrSeedMAC, "the Secret is in the clear in a document whose values are encrypted: nothing vouches for it")
	case v.PlainValue != nil && name == "Secret" && o.key != nil:
		return nil, because(ErrSeedKey, "a key was given, and the Secret is in the clear: the file is not the encrypted one its sender made, or give no key")
	case v.PlainValue != nil:
		b, err := decodeBase64(*v.PlainValue)
		if err != nil {
			return nil, because(ErrSecret, "%s is not base64", name)
		}
		return b, nil
	}
	return nil, because(ErrSeedFile, "%s has no value", name)
}

// open checks mac over e's IV and ciphertext, then decrypts it (RFC 6030 §6.1).
func (o *pskcOpener) open(e *pskcEncrypted, mac []byte, name string) ([]byte, error) {
	if o.macKey == nil {
		if o.macKeyValue == nil {
			return nil, because(ErrSeedMAC, "the document has encrypted values but no MACMethod with a MACKey")
		}
		k, err := o.decrypt(o.macKeyValue, "MACKey")
		if err != nil {
			return nil, err
		}
		if len(k) == 0 {
			return nil, because(ErrSeedMAC, "the MACKey is empty")
		}
		o.macKey = k
	}
	var h func() hash.Hash
	switch strings.TrimSpace(o.macAlg) {
	case dsigHMACSHA1:
		h = sha1.New
	case dsigHMAC256:
		h = sha256.New
	case dsigHMAC512:
		h = sha512.New
	default:
		return nil, because(ErrUnsupported, "MAC method %q is not supported: Twofold takes hmac-sha1, hmac-sha256 and hmac-sha512", truncateAttr(o.macAlg))
	}
	ct, err := decodeBase64(e.CipherValue)
	if err != nil {
		return nil, because(ErrSeedFile, "the encrypted %s is not base64", name)
	}
	m := hmac.New(h, o.macKey)
	m.Write(ct)
	if !hmac.Equal(m.Sum(nil), mac) {
		return nil, because(ErrSeedMAC, "the MAC of the encrypted %s does not match", name)
	}
	return o.decrypt(e, name)
}

// decrypt decrypts an AES-CBC value whose first block is the IV, and removes its PKCS #7
// padding. Padding that does not check out means the key is not the document's.
func (o *pskcOpener) decrypt(e *pskcEncrypted, name string) ([]byte, error) {
	if o.key == nil {
		return nil, because(ErrSeedKey, "the document is encrypted: give its pre-shared key")
	}
	var size int
	switch strings.TrimSpace(e.Method.Algorithm) {
	case xmlencAES128:
		size = 16
	case xmlencAES192:
		size = 24
	case xmlencAES256:
		size = 32
	default:
		return nil, because(ErrUnsupported, "encryption method %q is not supported: Twofold takes AES-CBC", truncateAttr(e.Method.Algorithm))
	}
	if len(o.key) != size {
		return nil, because(ErrSeedKey, "wrong pre-shared key: the document uses AES-%d, whose key has %d bytes (%d hex digits), not %d", size*8, size, 2*size, len(o.key))
	}
	ct, err := decodeBase64(e.CipherValue)
	if err != nil {
		return nil, because(ErrSeedFile, "the encrypted %s is not base64", name)
	}
	if len(ct) < 2*aes.BlockSize || len(ct)%aes.BlockSize != 0 {
		return nil, because(ErrSeedFile, "the encrypted %s is not an IV and whole AES blocks", name)
	}
	block, err := aes.NewCipher(o.key)
	if err != nil {
		return nil, because(ErrSeedKey, "the pre-shared key is not an AES key")
	}
	pt := make([]byte, len(ct)-aes.BlockSize)
	cipher.NewCBCDecrypter(block, ct[:aes.BlockSize]).CryptBlocks(pt, ct[aes.BlockSize:])
	pad := int(pt[len(pt)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, errWrongKey
	}
	for _, b := range pt[len(pt)-pad:] {
		if int(b) != pad {
			return nil, errWrongKey
		}
	}
	return pt[:len(pt)-pad], nil
}

var errWrongKey = because(ErrSeedKey, "the pre-shared key does not open the document")

// decodeBase64 decodes base64 written across lines, as XML documents do.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
	if s == "" {
		return nil, errors.New("empty")
	}
	return base64.StdEncoding.DecodeString(s)
}

// truncateAttr shortens an attribute (an algorithm URI, say) quoted in an error message.
// Attributes never hold key material.
func truncateAttr(v string) string { return cleanText(v, 80) }

// cleanText trims v and cuts it to at most n characters of visible text.
func cleanText(v string, n int) string {
	v = strings.TrimSpace(v)
	v = strings.Map(func(r rune) rune {
		if hiddenRune(r) {
			return -1
		}
		return r
	}, v)
	if r := []rune(v); len(r) > n {
		return string(r[:n]) + "…"
	}
	return v
}
