module 0x1 amm
resource Pool reserve_a reserve_b
resource Tokens a b

function private init () -> () locals 0
	push 1
	push 1000000000
	push 1000000000
	rnew Pool
	ret
end

; faucet(a, b): credit the sender with tokens
function entry faucet (u64, u64) -> () locals 0
	sender
	exists Tokens
	jnz have
	sender
	push 0
	push 0
	rnew Tokens
have:
	sender
	sender
	rget Tokens a
	load 0
	add
	rset Tokens a
	sender
	sender
	rget Tokens b
	load 1
	add
	rset Tokens b
	ret
end

; quote(in, reserve_in, reserve_out) -> out, with a 0.3% fee
function public quote (u64, u64, u64) -> (u64) locals 1
	load 0
	push 997
	mul
	store 3
	load 2
	load 3
	mul
	load 1
	push 1000
	mul
	load 3
	add
	div
	ret
end

; swap_a(in, min_out): sell `in` of token a for b.
; abort 1: output below min_out; abort 2: not enough a
function entry swap_a (u64, u64) -> () locals 3
	push 1
	rget Pool reserve_a
	store 2
	push 1
	rget Pool reserve_b
	store 3
	load 0
	load 2
	load 3
	call quote
	store 4
	load 4
	load 1
	lt
	jnz slippage
	sender
	rget Tokens a
	load 0
	lt
	jnz short
	sender
	sender
	rget Tokens a
	load 0
	sub
	rset Tokens a
	sender
	sender
	rget Tokens b
	load 4
	add
	rset Tokens b
	push 1
	load 2
	load 0
	add
	rset Pool reserve_a
	push 1
	load 3
	load 4
	sub
	rset Pool reserve_b
	ret
slippage:
	push 1
	abort
short:
	push 2
	abort
end

; swap_b(in, min_out): sell `in` of token b for a
function entry swap_b (u64, u64) -> () locals 3
	push 1
	rget Pool reserve_b
	store 2
	push 1
	rget Pool reserve_a
	store 3
	load 0
	load 2
	load 3
	call quote
	store 4
	load 4
	load 1
	lt
	jnz slippage
	sender
	rget Tokens b
	load 0
	lt
	jnz short
	sender
	sender
	rget Tokens b
	load 0
	sub
	rset Tokens b
	sender
	sender
	rget Tokens a
	load 4
	add
	rset Tokens a
	push 1
	load 2
	load 0
	add
	rset Pool reserve_b
	push 1
	load 3
	load 4
	sub
	rset Pool reserve_a
	ret
slippage:
	push 1
	abort
short:
	push 2
	abort
end
