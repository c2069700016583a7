package e2e

import (
	"bytes"
	"cmp"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"

	routingv1alpha1 "sglang-router.dev/operator/api/v1alpha1"
)

// rendered is what `kubectl kustomize deploy/kubernetes` makes, by kind and name.
type rendered map[string]*unstructured.Unstructured

func renderApp(t *testing.T) rendered {
	t.Helper()
	root := filepath.Join("..", "..", "..")
	if out, err := exec.Command(filepath.Join(root, "kubernetes", "make-secrets.sh")).CombinedOutput(); err != nil {
		t.Fatalf("make-secrets.sh: %v\n%s", err, out)
	}
	kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	out, err := exec.Command(kubectl, "kustomize", filepath.Join(root, "kubernetes")).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize deploy/kubernetes: %v", err)
	}
	objs := rendered{}
	dec := k8syaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if u.Object != nil {
			objs[u.GetKind()+"/"+u.GetName()] = &u
		}
	}
	return objs
}

// get converts the named object into out.
func (r rendered) get(t *testing.T, key string, out any) {
	t.Helper()
	u, ok := r[key]
	if !ok {
		t.Fatalf("deploy/kubernetes has no %s", key)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, out); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
}

// flagValue is the value of --name=value in args.
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// The replica sync wiring of deploy/kubernetes holds together: the routers'
// --sync-nats-url names the NATS Service and a port that reaches the NATS
// container, their token file is the Secret the server's --auth reads, and
// the SGLangRouter's spec.sync says the same.
func TestManifestsWireReplicaSync(t *testing.T) {
	objs := renderApp(t)
	var router, nats appsv1.Deployment
	var svc corev1.Service
	var sr routingv1alpha1.SGLangRouter
	objs.get(t, "Deployment/sglang-router", &router)
	objs.get(t, "Deployment/sglang-nats", &nats)
	objs.get(t, "Service/sglang-nats", &svc)
	objs.get(t, "SGLangRouter/sglang", &sr)

	rc := router.Spec.Template.Spec.Containers[0]
	url, group := flagValue(rc.Args, "sync-nats-url"), flagValue(rc.Args, "sync-group")
	tokenFile := flagValue(rc.Args, "sync-nats-token-file")
	if url == "" || group == "" || tokenFile == "" {
		t.Fatalf("router args lack --sync-nats-url, --sync-group or --sync-nats-token-file: %v", rc.Args)
	}
	// The URL names the Service, on a port whose target is the NATS
	// container's client port.
	host, port, _ := strings.Cut(strings.TrimPrefix(url, "nats://"), ":")
	if host != svc.Name || svc.Namespace != router.Namespace {
		t.Fatalf("--sync-nats-url %s: not the Service %s/%s", url, svc.Namespace, svc.Name)
	}
	for k, v := range svc.Spec.Selector {
		if nats.Spec.Template.Labels[k] != v {
			t.Fatalf("Service %s does not select the NATS pods (%s=%s)", svc.Name, k, v)
		}
	}
	nc := nats.Spec.Template.Spec.Containers[0]
	serverPort := cmp.Or(flagValue(nc.Args, "port"), "4222") // nats-server's default
	reaches := false
	for _, sp := range svc.Spec.Ports {
		if strconv.Itoa(int(sp.Port)) != port {
			continue
		}
		for _, cp := range nc.Ports {
			named := sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal == cp.Name
			numbered := sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal == cp.ContainerPort
			if (named || numbered) && strconv.Itoa(int(cp.ContainerPort)) == serverPort {
				reaches = true
			}
		}
	}
	if !reaches {
		t.Fatalf("--sync-nats-url %s: port %s of Service %s does not reach nats-server's --port %s", url, port,
			svc.Name, serverPort)
	}

	// The routers' token file comes from the Secret the server's token does.
	if flagValue(nc.Args, "auth") != "$(NATS_TOKEN)" {
		t.Fatalf("nats-server args: %v", nc.Args)
	}
	var serverSecret string
	for _, e := range nc.Env {
		if e.Name == "NATS_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			serverSecret = e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
	}
	var routerSecret string
	for _, m := range rc.VolumeMounts {
		if m.MountPath != path.Dir(tokenFile) {
			continue
		}
		for _, v := range router.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil {
				for _, it := range v.Secret.Items {
					if it.Path == path.Base(tokenFile) {
						routerSecret = v.Secret.SecretName + "/" + it.Key
					}
				}
			}
		}
	}
	if serverSecret == "" || serverSecret != routerSecret {
		t.Fatalf("the server's token (%q) and the routers' token file (%q) are not the same Secret key", serverSecret,
			routerSecret)
	}
	if _, ok := objs["Secret/"+strings.Split(serverSecret, "/")[0]]; !ok {
		t.Fatalf("no Secret %s in deploy/kubernetes", serverSecret)
	}
	if p := nc.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
		t.Fatalf("NATS readiness probe: %+v", p)
	}

	// The SGLangRouter pushes what the flags say (token key "token").
	s := sr.Spec.Sync
	if s == nil || !slices.Contains(s.NATSURLs, url) || s.Group != group || s.CredentialsSecretRef == nil ||
		s.CredentialsSecretRef.Name+"/token" != serverSecret {
		t.Fatalf("SGLangRouter spec.sync %+v: not the routers' flags (%s, %s, %s)", s, url, group, serverSecret)
	}
}
