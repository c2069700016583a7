package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
)

type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte // certificate
	kpem []byte // key
}

// issue makes a certificate signed by ca (self-signed when ca is nil).
func issue(t *testing.T, ca *keyPair, cn string, ips []net.IP, isCA bool, usage x509.ExtKeyUsage) *keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: ips,
		BasicConstraintsValid: true, IsCA: isCA, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	if !isCA {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	return &keyPair{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		kpem: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})}
}

// The admin API over mutual TLS: the operator verifies the router's
// certificate against the Secret's CA (by the pod IP) and presents its own.
func TestAdminOverMutualTLS(t *testing.T) {
	ns := newNamespace(t)
	dir := t.TempDir()
	ca := issue(t, nil, "e2e admin CA", nil, true, 0)
	routerIP := nextIP()
	server := issue(t, ca, "router", []net.IP{net.ParseIP(routerIP)}, false, x509.ExtKeyUsageServerAuth)
	operator := issue(t, ca, "operator", nil, false, x509.ExtKeyUsageClientAuth)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	startRouter(t, routerIP, "--admin-tls-cert-path", write("server.crt", server.pem), "--admin-tls-key-path",
		write("server.key", server.kpem), "--admin-tls-ca-path", write("ca.crt", ca.pem))
	createPod(t, ns, "router-0", routerLabels, routerIP, false)
	workerIP := nextIP()
	startSim(t, workerIP, "worker-0")
	createPod(t, ns, "worker-0", workerLabels, workerIP, true)

	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "admin-tls", Namespace: ns},
		Data: map[string][]byte{"ca.crt": ca.pem, "tls.crt": operator.pem, "tls.key": operator.kpem}}
	if err := k8s.Create(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	sr := newRouter(ns, "sglang", routingv1alpha1.RoutingSettings{})
	sr.Spec.Routers.TLS = &routingv1alpha1.AdminTLS{SecretName: "admin-tls"}
	if err := k8s.Create(context.Background(), sr); err != nil {
		t.Fatal(err)
	}
	startOperator(t)
	took := waitWorkers(t, 10*time.Second, urlsOf(workerIP), routerIP)
	t.Logf("over mutual TLS: workers on the router %v after the operator started", took)
	waitCondition(t, ns, "sglang", "Ready", metav1.ConditionTrue, "Synced", 5*time.Second)

	// Without the client certificate the router refuses the operator, and
	// the condition says so.
	delete(secret.Data, "tls.crt")
	delete(secret.Data, "tls.key")
	if err := k8s.Update(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	c := waitCondition(t, ns, "sglang", "Degraded", metav1.ConditionTrue, "", 10*time.Second)
	if c.Reason == "AsExpected" {
		t.Fatalf("degraded without a client certificate: %+v", c)
	}
	t.Logf("no client certificate: %s: %s", c.Reason, c.Message)
}
