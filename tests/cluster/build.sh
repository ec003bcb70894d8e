#!/usr/bin/env bash
# Builds the test control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kwok) from the modules go.mod and go.sum pin, once per pin set, into a cache outside
# the repository. Prints the folder holding the programs. With --find it builds nothing: it
# prints the folder if this set is built and fails otherwise (how the tests find kubectl).
#   TOKMESH_CLUSTER_CACHE  where built sets are kept (default ~/.cache/tokmesh-deploy/cluster)
# A cold build takes tens of minutes on two cores; later runs find the set and return at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kube_version=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' "$here/go.mod")
minor=${kube_version#v1.}; minor=${minor%%.*}
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags="$ldflags -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
cpkg=k8s.io/client-go/pkg/version
ldflags="$ldflags -X $cpkg.gitVersion=$kube_version -X $cpkg.gitMajor=1 -X $cpkg.gitMinor=$minor"

goflags="-mod=readonly -buildvcs=false"
# The key covers everything the programs are built from, so a new pin or flag builds a new set.
key=$( (cat "$here/go.mod" "$here/go.sum" "$here/cmd/etcd/main.go"; echo "$ldflags $goflags") \
  | sha256sum | cut -c1-12)
cache=${TOKMESH_CLUSTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tokmesh-deploy/cluster}
out=$cache/$kube_version-$key
if [ -f "$out/.complete" ]; then echo "$out/bin"; exit 0; fi
if [ "${1:-}" = --find ]; then echo "cluster: $kube_version ($key) is not built: bash $0" >&2; exit 1; fi

# go.mod's go line names the Go it needs; a Go from 1.21 on fetches that one from the module
# proxy by itself (GOTOOLCHAIN=auto), an older one cannot.
if ! go version | grep -Eq 'go1\.(2[1-9]|[3-9][0-9])'; then
  echo "cluster: $(go version) cannot build Kubernetes $kube_version: put Go 1.21 or newer first on PATH" >&2
  exit 1
fi
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9  # two test sessions on one machine build a set once
if [ -f "$out/.complete" ]; then echo "$out/bin"; exit 0; fi

rm -rf "$out.partial"
mkdir -p "$out.partial/bin"
started=$(date +%s)
echo "cluster: building the control plane $kube_version ($key) into $out" >&2
(
  cd "$here"
  export CGO_ENABLED=0 GOFLAGS="$goflags"
  go build -trimpath -ldflags "$ldflags" -o "$out.partial/bin/" \
    ./cmd/etcd \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl \
    sigs.k8s.io/kwok/cmd/kwok
)
echo "cluster: built in $(( $(date +%s) - started )) s" >&2
touch "$out.partial/.complete"
rm -rf "$out"
mv "$out.partial" "$out"
echo "$out/bin"
