;; The smallest skill: a component written by hand in the WebAssembly text
;; format. It exports `skillbox:skill/tools@0.1.0` and imports nothing, so
;; it can reach nothing. Its one tool, `hello`, answers a fixed JSON
;; document whatever its input.
(component
  (core module $skill
    (memory (export "memory") 1)
    (data (i32.const 64) "{\"greeting\":\"hello from WAT\"}")

    ;; The host copies the tool name and the input in through `realloc`;
    ;; this one never frees, as each call gets a fresh instance.
    (global $next (mut i32) (i32.const 1024))
    (func (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $at i32)
      (local.set $at
        (i32.and
          (i32.add (global.get $next) (i32.sub (local.get $align) (i32.const 1)))
          (i32.sub (i32.const 0) (local.get $align))))
      (global.set $next (i32.add (local.get $at) (local.get $size)))
      (block $fits
        (br_if $fits (i32.le_u (global.get $next) (i32.mul (memory.size) (i32.const 65536))))
        (drop (memory.grow
          (i32.add
            (i32.div_u
              (i32.sub (global.get $next) (i32.mul (memory.size) (i32.const 65536)))
              (i32.const 65536))
            (i32.const 1)))))
      (local.get $at))

    ;; call(tool, input) -> result<string, tool-error>: the result is
    ;; written at offset 0 as (case 0 = ok, pointer, length).
    (func (export "call") (param $tool i32) (param $tool_len i32) (param $input i32) (param $input_len i32) (result i32)
      (i32.store (i32.const 0) (i32.const 0))
      (i32.store (i32.const 4) (i32.const 64))
      (i32.store (i32.const 8) (i32.const 29))
      (i32.const 0)))
  (core instance $instance (instantiate $skill))

  (type $tool-error (variant
    (case "invalid-input" string)
    (case "denied" string)
    (case "failed" string)))
  (func $call (param "tool" string) (param "input" string) (result (result string (error $tool-error)))
    (canon lift (core func $instance "call")
      (memory (core memory $instance "memory"))
      (realloc (core func $instance "realloc"))))
  (instance $tools
    (export "tool-error" (type $tool-error))
    (export "call" (func $call)))
  (export "skillbox:skill/tools@0.1.0" (instance $tools)))
