// Package v1alpha1 holds the API of the SGLang Router operator: the
// SGLangRouter resource, which names a set of SGLang worker pods, the router
// replicas that spread traffic over them, and the routing settings every
// replica should run with.
//
// +kubebuilder:object:generate=true
// +groupName=routing.sglang-router.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every object here.
	GroupVersion = schema.GroupVersion{Group: "routing.sglang-router.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the types of this package with a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
