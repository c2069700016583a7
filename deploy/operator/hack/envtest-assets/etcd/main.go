// Command etcd is etcd v3.6.4's server (go.etcd.io/etcd/server/v3), built as a
// plain Go module for controller-runtime's envtest; see ../../envtest-assets.sh.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
