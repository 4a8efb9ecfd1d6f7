module 0x1 account
resource Account seq
resource Coin balance

; transfer(to, amount): move coins from the sender to `to`
function entry transfer (u64, u64) -> () locals 0
	sender
	load 1
	call withdraw
	load 0
	load 1
	call deposit
	ret
end

; withdraw(account, amount); abort 1 when the balance is short
function private withdraw (u64, u64) -> () locals 1
	load 0
	rget Coin balance
	store 2
	load 2
	load 1
	lt
	jnz short
	load 0
	load 2
	load 1
	sub
	rset Coin balance
	ret
short:
	push 1
	abort
end

; deposit(account, amount); abort 2 when there is no such account
function public deposit (u64, u64) -> () locals 0
	load 0
	exists Coin
	jz missing
	load 0
	load 0
	rget Coin balance
	load 1
	add
	rset Coin balance
	ret
missing:
	push 2
	abort
end

function public balance (u64) -> (u64) locals 0
	load 0
	rget Coin balance
	ret
end

function public sequence_number (u64) -> (u64) locals 0
	load 0
	rget Account seq
	ret
end

; create_account(address); abort 3 when it exists
function entry create_account (u64) -> () locals 0
	load 0
	exists Account
	jnz taken
	load 0
	push 0
	rnew Account
	load 0
	push 0
	rnew Coin
	ret
taken:
	push 3
	abort
end

; mint(to, amount): new coins; abort 4 unless the sender is 0x1
function entry mint (u64, u64) -> () locals 0
	sender
	push 1
	ne
	jnz denied
	load 0
	load 1
	call deposit
	ret
denied:
	push 4
	abort
end
