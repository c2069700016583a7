package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
	"sglang-router.dev/operator/internal/admin"
	"sglang-router.dev/operator/internal/adminpb"
)

// natsServerBin finds Debian's nats-server (it installs to /usr/sbin, which
// is not on every PATH). The replica sync scenario cannot stand in for it:
// without one it fails, saying so.
func natsServerBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/nats-server", "/usr/bin/nats-server"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatal("nats-server not found on PATH, in /usr/sbin or in /usr/bin: the replica sync scenario needs a real " +
		"NATS server (Debian 12: apt-get install nats-server; deploy/scripts/install-deps.sh installs it)")
	return ""
}

// natsServer is a nats-server process on a loopback address of its own,
// requiring a token, as the app's sglang-nats Deployment does (--auth).
type natsServer struct {
	bin, addr, token string
	p                *proc
}

// startNATS starts nats-server on a free port of a new loopback address.
func startNATS(t *testing.T, token string) *natsServer {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(nextIP(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	n := &natsServer{bin: natsServerBin(t), addr: addr, token: token}
	n.start(t)
	return n
}

// start runs the server (again, on the same address).
func (n *natsServer) start(t *testing.T) {
	t.Helper()
	host, port, _ := net.SplitHostPort(n.addr)
	n.p = start(t, "Server is ready", n.bin, "-a", host, "-p", port, "--auth", n.token)
}

func (n *natsServer) url() string { return "nats://" + n.addr }

// syncStatuses reads every router's GetSync.
func syncStatuses(ips []string, pool *admin.Pool) ([]*adminpb.SyncStatus, error) {
	out := make([]*adminpb.SyncStatus, len(ips))
	for i, ip := range ips {
		c, err := pool.Get(admin.Target{Address: ip + ":30001", Token: adminToken})
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		out[i], err = c.GetSync(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("router %s: GetSync: %w", ip, err)
		}
	}
	return out, nil
}

func describeSync(sts []*adminpb.SyncStatus) string {
	var b strings.Builder
	for _, s := range sts {
		fmt.Fprintf(&b, "[%s state=%s group=%s servers=%v peers=%d last_error=%q] ", s.GetReplicaId(), s.GetState(),
			s.GetGroup(), s.GetServers(), len(s.GetPeers()), s.GetLastError())
	}
	return b.String()
}

// waitSync waits until every router's sync status satisfies ok; returns how
// long it took.
func waitSync(t *testing.T, within time.Duration, what string, ips []string,
	ok func(*adminpb.SyncStatus) bool) time.Duration {
	t.Helper()
	pool := admin.NewPool()
	defer pool.Retain(nil)
	t0 := time.Now()
	var last string
	for time.Since(t0) < within {
		sts, err := syncStatuses(ips, pool)
		if err == nil {
			all := true
			for _, s := range sts {
				all = all && ok(s)
			}
			if all {
				return time.Since(t0)
			}
			last = describeSync(sts)
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("routers %v: not %s within %v; last seen: %s", ips, what, within, last)
	return 0
}

func upWithPeers(n int) func(*adminpb.SyncStatus) bool {
	return func(s *adminpb.SyncStatus) bool { return s.GetState() == "up" && len(s.GetPeers()) == n }
}

func stateIs(state string) func(*adminpb.SyncStatus) bool {
	return func(s *adminpb.SyncStatus) bool { return s.GetState() == state }
}

func setNATSToken(t *testing.T, ns, token string) {
	t.Helper()
	var s corev1.Secret
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "nats-credentials"}, &s); err != nil {
		t.Fatal(err)
	}
	s.Data = map[string][]byte{"token": []byte(token)}
	if err := k8s.Update(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
}

// Three router replicas join each other over a real NATS server with the
// settings the operator pushes (spec.sync and a token Secret); they keep
// serving while NATS is gone and join again when it is back; a router
// restarted without sync gets the settings again, one restarted with the
// same flags is left alone; a Secret change reaches every replica.
func TestReplicaSyncOverNATS(t *testing.T) {
	const natsToken = "e2e-nats-token"
	nats := startNATS(t, natsToken)
	f := newFleetWith(t, 2, 3, func(sr *routingv1alpha1.SGLangRouter) {
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "nats-credentials", Namespace: sr.Namespace},
			Data: map[string][]byte{"token": []byte(natsToken)}}
		if err := k8s.Create(context.Background(), secret); err != nil {
			t.Fatal(err)
		}
		sr.Spec.Sync = &routingv1alpha1.SyncSpec{NATSURLs: []string{nats.url()}, Group: "e2e-sync",
			CredentialsSecretRef: &routingv1alpha1.LocalSecretReference{Name: "nats-credentials"}}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("operator:\n%s", tail(f.operator.out.String(), 60))
			for i, r := range f.routers {
				t.Logf("router %s:\n%s", f.routerIPs[i], tail(r.out.String(), 20))
			}
		}
	})
	waitWorkers(t, 10*time.Second, f.urls("worker-0", "worker-1"), f.routerIPs...)
	took := waitSync(t, 20*time.Second, "up with 2 peers", f.routerIPs, upWithPeers(2))
	t.Logf("workers pushed -> 3 routers up on NATS, 2 peers each: %v", took)
	sts, err := syncStatuses(f.routerIPs, admin.NewPool())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.GetGroup() != "e2e-sync" || len(s.GetServers()) != 1 || !strings.Contains(s.GetServers()[0], nats.addr) {
			t.Fatalf("sync settings on a router: %s", describeSync([]*adminpb.SyncStatus{s}))
		}
	}
	c := waitCondition(t, f.ns, "sglang", "SyncReady", metav1.ConditionTrue, "AllReplicasUp", 5*time.Second)
	t.Logf("SyncReady: %s", c.Message)
	waitReplicaSync(t, f.ns, "up", 2, 5*time.Second)

	// NATS goes away: every router keeps serving from its own view, and
	// says "down".
	waitHealthy(t, 5*time.Second, f.routerIPs...)
	t0 := time.Now()
	nats.p.kill()
	took = waitSync(t, 15*time.Second, "down", f.routerIPs, stateIs("down"))
	t.Logf("nats-server killed -> every router down: %v", took)
	for _, ip := range f.routerIPs {
		id, status, err := generate(ip)
		if err != nil || status != 200 || !strings.HasPrefix(id, "worker-") {
			t.Fatalf("through %s with NATS down: %q %d %v", ip, id, status, err)
		}
	}
	waitCondition(t, f.ns, "sglang", "SyncReady", metav1.ConditionFalse, "ReplicasNotUp", 5*time.Second)
	waitCondition(t, f.ns, "sglang", "Degraded", metav1.ConditionTrue, "SyncDown", 5*time.Second)
	if c := waitCondition(t, f.ns, "sglang", "Ready", metav1.ConditionTrue, "", time.Second); c.Reason != "Synced" {
		t.Fatalf("Ready with NATS down: %+v", c)
	}

	// The same server back on the same port: up again, peers and all.
	nats.start(t)
	took = waitSync(t, 20*time.Second, "up with 2 peers again", f.routerIPs, upWithPeers(2))
	t.Logf("nats-server back -> every router up with 2 peers: %v (%v since the kill)", took, time.Since(t0))
	waitCondition(t, f.ns, "sglang", "SyncReady", metav1.ConditionTrue, "AllReplicasUp", 5*time.Second)

	// A router process restarts in its pod, without --sync flags (sync
	// off): the operator pushes the settings again.
	f.routers[1].kill()
	f.routers[1] = startRouter(t, f.routerIPs[1])
	took = waitSync(t, 20*time.Second, "up with 2 peers after a router restart", f.routerIPs, upWithPeers(2))
	t.Logf("router restarted -> up again with 2 peers: %v", took)

	// One restarted with the flags deploy/kubernetes gives the routers
	// (the same servers, group and token): adopted, not pushed to (a push
	// would make it leave NATS and join again).
	f.routers[2].kill()
	f.routers[2] = startRouter(t, f.routerIPs[2], "--sync-nats-url", nats.url(), "--sync-group", "e2e-sync",
		"--sync-nats-token-file", writeToken(t, natsToken))
	took = waitSync(t, 20*time.Second, "up with 2 peers after a restart with flags", f.routerIPs, upWithPeers(2))
	waitWorkers(t, 5*time.Second, f.urls("worker-0", "worker-1"), f.routerIPs[2])
	time.Sleep(time.Second) // two resyncs
	if !strings.Contains(f.routers[1].out.String(), "admin: replica sync set") ||
		strings.Contains(f.routers[2].out.String(), "admin: replica sync set") {
		t.Fatalf("the operator pushed sync settings to a router started with the same ones:\n%s",
			tail(f.routers[2].out.String(), 20))
	}
	t.Logf("router restarted with the sync flags -> up with 2 peers, nothing pushed: %v", took)

	// A Secret change reaches every replica: a wrong token is refused by
	// the server, the right one joins again.
	setNATSToken(t, f.ns, "not-the-token")
	took = waitSync(t, 15*time.Second, "refused", f.routerIPs, stateIs("refused"))
	t.Logf("wrong token in the Secret -> every router refused: %v", took)
	waitCondition(t, f.ns, "sglang", "SyncReady", metav1.ConditionFalse, "SyncRefused", 5*time.Second)
	setNATSToken(t, f.ns, natsToken)
	took = waitSync(t, 20*time.Second, "up with 2 peers after the fix", f.routerIPs, upWithPeers(2))
	t.Logf("right token back -> every router up with 2 peers: %v", took)
	waitCondition(t, f.ns, "sglang", "SyncReady", metav1.ConditionTrue, "AllReplicasUp", 5*time.Second)

	// The operator pushed only what was missing: to the three at the start,
	// to the router restarted without flags, and to the three for each of
	// the two Secret changes.
	ops := pushedSyncEvents(t, f.ns)
	if ops > 3+1+3+3 {
		t.Fatalf("%d SyncPushed events: pushes are not limited to what changed", ops)
	}
	t.Logf("%d SyncPushed events", ops)
	for _, p := range append([]*proc{f.operator}, f.routers...) {
		if strings.Contains(p.out.String(), natsToken) {
			t.Fatalf("%s logged the NATS token", p.name)
		}
	}
}

// waitReplicaSync waits until every replica's status shows the state and peers.
func waitReplicaSync(t *testing.T, ns, state string, peers int32, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		rs := getRouter(t, ns, "sglang").Status.RouterReplicas
		ok := len(rs) > 0
		for _, r := range rs {
			ok = ok && r.SyncState == state && r.SyncPeers != nil && *r.SyncPeers == peers
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica status not %s with %d peers within %v: %+v", state, peers, within, rs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pushedSyncEvents counts the SyncPushed events (an event's count adds up
// repeats).
func pushedSyncEvents(t *testing.T, ns string) int {
	t.Helper()
	var list corev1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range list.Items {
		if e.Reason == "SyncPushed" {
			n += int(max(e.Count, 1))
		}
	}
	return n
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
