// What a Go service using go-jose v2 (gopkg.in/square/go-jose.v2, the JOSE library Kubernetes itself
// uses for service-account tokens; Debian's golang-gopkg-square-go-jose.v2-dev) makes of KeyRotator's
// output. go-jose shares no code with KeyRotator, so a disagreement here is a real interoperability bug.
// Used by ForeignLibraryTests, built in GOPATH mode against Debian's packaged sources:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o gojose-check ./tests/interop/gojose
//	gojose-check cases.json results.json
//
// The input and output are those of jose-check.mjs.
package main

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	jose "gopkg.in/square/go-jose.v2"
	"gopkg.in/square/go-jose.v2/jwt"
)

type testCase struct {
	Name   string   `json:"name"`
	Alg    string   `json:"alg"`
	Jwks   string   `json:"jwks"`
	Tokens []string `json:"tokens"`
	Kid    string   `json:"kid,omitempty"`
	Pem    string   `json:"pem,omitempty"`
}

type input struct {
	Issuer   string     `json:"issuer"`
	Audience string     `json:"audience"`
	Cases    []testCase `json:"cases"`
}

type verdict struct {
	Valid bool   `json:"valid"`
	Kid   string `json:"kid,omitempty"`
	Error string `json:"error,omitempty"`
}

type thumbprint struct {
	Kid        string `json:"kid"`
	Thumbprint string `json:"thumbprint"`
}

type result struct {
	Name        string       `json:"name"`
	Verdicts    []verdict    `json:"verdicts"`
	Thumbprints []thumbprint `json:"thumbprints"`
	Signed      string       `json:"signed,omitempty"`
}

// verify checks a token as a hardened verifier would: the pinned algorithm in the header and on the
// key, a kid the JWKS holds, the signature, then iss, aud, exp, nbf and iat (all required).
func verify(token string, keys jose.JSONWebKeySet, c testCase, in input) verdict {
	parsed, err := jwt.ParseSigned(token)
	if err != nil {
		return verdict{Error: "malformed: " + err.Error()}
	}
	header := parsed.Headers[0]
	if header.Algorithm != c.Alg {
		return verdict{Error: fmt.Sprintf("alg %q is not the pinned %q", header.Algorithm, c.Alg)}
	}
	found := keys.Key(header.KeyID)
	if len(found) != 1 || found[0].Algorithm != c.Alg {
		return verdict{Error: fmt.Sprintf("no %s key with kid %q in the JWKS", c.Alg, header.KeyID)}
	}
	var claims jwt.Claims
	if err := parsed.Claims(found[0].Key, &claims); err != nil {
		return verdict{Error: "signature: " + err.Error()}
	}
	if claims.Expiry == nil || claims.NotBefore == nil || claims.IssuedAt == nil {
		return verdict{Error: "exp, nbf and iat are required"}
	}
	expected := jwt.Expected{Issuer: in.Issuer, Audience: jwt.Audience{in.Audience}, Time: time.Now()}
	if err := claims.ValidateWithLeeway(expected, 30*time.Second); err != nil {
		return verdict{Error: "claims: " + err.Error()}
	}
	return verdict{Valid: true, Kid: header.KeyID}
}

// sign makes a token with the signing Secret's PKCS#8 PEM and kid, as a Go service would.
func sign(c testCase, in input) (string, error) {
	block, _ := pem.Decode([]byte(c.Pem))
	if block == nil {
		return "", fmt.Errorf("the signing Secret's private-key.pem is not PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.SignatureAlgorithm(c.Alg), Key: jose.JSONWebKey{Key: key, KeyID: c.Kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	claims := jwt.Claims{
		Subject: "signed-by-go-jose", Issuer: in.Issuer, Audience: jwt.Audience{in.Audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(5 * time.Minute)),
	}
	return jwt.Signed(signer).Claims(claims).CompactSerialize()
}

func run(inputPath, outputPath string) error {
	raw, err := os.ReadFile(inputPath)
	if err != nil {
		return err
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		return err
	}
	results := []result{}
	for _, c := range in.Cases {
		var keys jose.JSONWebKeySet
		if err := json.Unmarshal([]byte(c.Jwks), &keys); err != nil {
			return fmt.Errorf("%s: go-jose cannot read the JWKS: %w", c.Name, err)
		}
		r := result{Name: c.Name, Verdicts: []verdict{}, Thumbprints: []thumbprint{}}
		for _, key := range keys.Keys {
			sum, err := key.Thumbprint(crypto.SHA256)
			if err != nil {
				return fmt.Errorf("%s: thumbprint of %s: %w", c.Name, key.KeyID, err)
			}
			r.Thumbprints = append(r.Thumbprints, thumbprint{Kid: key.KeyID, Thumbprint: base64.RawURLEncoding.EncodeToString(sum)})
		}
		for _, token := range c.Tokens {
			r.Verdicts = append(r.Verdicts, verify(token, keys, c, in))
		}
		if c.Pem != "" {
			if r.Signed, err = sign(c, in); err != nil {
				return fmt.Errorf("%s: signing with the Secret's key: %w", c.Name, err)
			}
		}
		results = append(results, r)
	}
	out, err := json.Marshal(map[string]interface{}{"library": "go-jose v2", "results": results})
	if err != nil {
		return err
	}
	return os.WriteFile(outputPath, out, 0o600)
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gojose-check cases.json results.json")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
