#!/usr/bin/env bash
# Checks that every module imports only what its layer allows. The layers are
# the list in the comment at the top of Package.swift ("X -> A B": X may import
# A, B and everything below them); this reads that list and every `import` in
# Sources/<Module>/*.swift, and names each file and import that breaks it, and
# each module of Sources/ the list leaves out. Tests are exempt. The system
# modules below are open to every module.
set -euo pipefail
cd "$(dirname "$0")/.."
SYSTEM="Foundation Glibc Dispatch Synchronization Darwin Musl"

declare -A direct=()     # module -> the modules named after its arrow
while IFS= read -r line; do
    left=${line%%->*}; right=${line#*->}
    right=${right//nothing/}
    for m in $left; do direct[$m]="${direct[$m]:-} $right"; done
done < <(sed -n 's|^//[[:space:]]\+\([A-Za-z0-9_ -]*[A-Za-z0-9_]\)[[:space:]]*->\(.*\)$|\1 ->\2|p' Package.swift)
if [ ${#direct[@]} -eq 0 ]; then
    echo "check-layers: FAIL: no layer list (lines '//   Module -> ...') in Package.swift" >&2
    exit 1
fi

# Everything below a module: its arrow's modules and, in turn, theirs.
below() {
    local -A seen=()
    local todo=(${direct[$1]}) m
    while [ ${#todo[@]} -gt 0 ]; do
        m=${todo[0]}; todo=("${todo[@]:1}")
        [ -n "${seen[$m]:-}" ] && continue
        seen[$m]=1
        todo+=(${direct[$m]:-})
    done
    echo "${!seen[@]}"
}

status=0
checked=0
for dir in Sources/*/; do
    module=$(basename "$dir")
    if [ -z "${direct[$module]+set}" ]; then
        echo "check-layers: FAIL: $dir is not in the layer list of Package.swift (add a line '//   $module -> ...')" >&2
        status=1
        continue
    fi
    allowed=" $SYSTEM $(below "$module") "
    while IFS= read -r hit; do
        [ -z "$hit" ] && continue
        file=${hit%%:*}; rest=${hit#*:}; lineno=${rest%%:*}; text=${rest#*:}
        # `import X`, `@preconcurrency import X`, `public import X`, `import struct X.Y`
        imported=$(sed -E 's/^[[:space:]]*(@[A-Za-z_]+(\([^)]*\))?[[:space:]]+)*((public|package|internal|fileprivate|private)[[:space:]]+)?import[[:space:]]+((typealias|struct|class|enum|protocol|let|var|func)[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*).*/\7/' <<<"$text")
        checked=$((checked + 1))
        case "$allowed" in
            *" $imported "*) ;;
            *) echo "check-layers: FAIL: $file:$lineno: import $imported: $module may import only $(below "$module" | tr ' ' '\n' | sort | tr '\n' ' ')(and $SYSTEM)" >&2
               status=1 ;;
        esac
    done < <(grep -rnE --include='*.swift' '^[[:space:]]*(@[A-Za-z_]+(\([^)]*\))?[[:space:]]+)*((public|package|internal|fileprivate|private)[[:space:]]+)?import[[:space:]]' "$dir" || true)
done
[ "$status" = 0 ] && echo "check-layers: OK ($checked imports in $(ls -d Sources/*/ | wc -l) modules follow the layers of Package.swift)"
exit $status
