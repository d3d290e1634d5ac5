# Build driver used by ./joyride before every task. Each step only redoes what is stale.
#   gen    : code generated from schema/*.capnp (TypeScript + C), committed, checked by a test
#   native : C layer over DPDK and the shared layout (native/Makefile)
#   shim   : the LD_PRELOAD library (shim/Makefile)
DENO ?= deno
.PHONY: build gen native shim
build: gen native shim
gen:
	@if [ -f scripts/gen.mk ]; then $(MAKE) -s -f scripts/gen.mk DENO="$(DENO)"; fi
native: gen
	@if [ -f native/Makefile ]; then $(MAKE) -s -C native; fi
shim: gen native
	@if [ -f shim/Makefile ]; then $(MAKE) -s -C shim; fi
