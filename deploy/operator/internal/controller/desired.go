package controller

// desired.go: what every router replica should hold, computed from the
// cluster's pods and the resource's spec. Pure functions, unit-tested.

import (
	"fmt"
	"math"
	"net"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
	"sglang-router.dev/operator/internal/adminpb"
)

// podReady: the kubelet says Ready and the pod is not being deleted (a pod
// with a deletion timestamp leaves the routers at once, so that it drains
// before it dies).
func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.PodIP == "" || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podRunning: started and reachable, ready or not. Router replicas are
// targeted as soon as they run: a router reports ready only once it has a
// healthy worker, which it gets from us.
func podRunning(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.PodIP != "" && p.Status.Phase == corev1.PodRunning
}

// workerPort resolves a port number or a container port name on pod p.
func workerPort(p *corev1.Pod, port intstr.IntOrString) (int32, bool) {
	if port.Type == intstr.Int {
		return port.IntVal, port.IntVal > 0 && port.IntVal <= 65535
	}
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Name == port.StrVal {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

// DesiredWorkers returns the URLs of the ready worker pods, sorted and
// without duplicates, and the names of ready pods that have no such port.
func DesiredWorkers(pods []corev1.Pod, port intstr.IntOrString) (urls []string, noPort []string) {
	seen := map[string]bool{}
	for i := range pods {
		p := &pods[i]
		if !podReady(p) {
			continue
		}
		n, ok := workerPort(p, port)
		if !ok {
			noPort = append(noPort, p.Name)
			continue
		}
		u := "http://" + net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(n)))
		if !seen[u] {
			seen[u] = true
			urls = append(urls, u)
		}
	}
	sort.Strings(urls)
	sort.Strings(noPort)
	return urls, noPort
}

// RouterTarget is one router replica to keep in sync.
type RouterTarget struct {
	Pod     string
	UID     types.UID
	Address string // pod IP and admin port
}

// RouterTargets returns the running router pods, by name.
func RouterTargets(pods []corev1.Pod, adminPort int32) []RouterTarget {
	var out []RouterTarget
	for i := range pods {
		p := &pods[i]
		if !podRunning(p) {
			continue
		}
		out = append(out, RouterTarget{Pod: p.Name, UID: p.UID,
			Address: net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(adminPort)))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out
}

// DesiredConfig turns the routing settings into the admin API's message.
// The API server fills the defaults; a field still unset (an object stored
// before a default existed) is left out, so the router keeps its own.
func DesiredConfig(s routingv1alpha1.RoutingSettings) *adminpb.RouterConfig {
	cfg := &adminpb.RouterConfig{
		CacheThreshold:       s.CacheThreshold,
		CacheRoutingProb:     s.CacheRoutingProb,
		BalanceAbsThreshold:  s.BalanceAbsThreshold,
		BalanceRelThreshold:  s.BalanceRelThreshold,
		EvictionIntervalSecs: s.EvictionIntervalSeconds,
		MaxTreeSize:          s.MaxTreeSize,
		CacheLoadWeight:      s.CacheLoadWeight,
		CacheQueueWeight:     s.CacheQueueWeight,
	}
	if s.Policy != "" {
		cfg.Policy = ptr.To(s.Policy)
	}
	return cfg
}

// ConfigMatches: every field set in want has the same value in got.
func ConfigMatches(want, got *adminpb.RouterConfig) bool {
	if got == nil {
		return false
	}
	eqS := func(a, b *string) bool { return a == nil || (b != nil && *a == *b) }
	eqI := func(a, b *int64) bool { return a == nil || (b != nil && *a == *b) }
	eqF := func(a, b *float64) bool {
		return a == nil || (b != nil && math.Abs(*a-*b) <= 1e-9*math.Max(1, math.Abs(*a)))
	}
	return eqS(want.Policy, got.Policy) && eqF(want.CacheThreshold, got.CacheThreshold) &&
		eqF(want.CacheRoutingProb, got.CacheRoutingProb) && eqI(want.BalanceAbsThreshold, got.BalanceAbsThreshold) &&
		eqF(want.BalanceRelThreshold, got.BalanceRelThreshold) &&
		eqI(want.EvictionIntervalSecs, got.EvictionIntervalSecs) && eqI(want.MaxTreeSize, got.MaxTreeSize) &&
		eqF(want.CacheLoadWeight, got.CacheLoadWeight) && eqF(want.CacheQueueWeight, got.CacheQueueWeight)
}

// SameWorkers: two sorted URL lists are equal.
func SameWorkers(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// describeConfig is a one-line summary for events.
func describeConfig(c *adminpb.RouterConfig) string {
	return fmt.Sprintf("policy=%s cacheThreshold=%g cacheRoutingProb=%g", c.GetPolicy(), c.GetCacheThreshold(),
		c.GetCacheRoutingProb())
}
