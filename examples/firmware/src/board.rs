//! All board glue for QEMU's `lm3s6965evb` (TI Stellaris LM3S6965, Cortex-M3): the only file a port
//! to another board replaces. `main.rs` sees nothing but the types and functions below.
//!
//! | what | peripheral | pins | notes |
//! |---|---|---|---|
//! | SD card bus | SSI0 at `0x4000_8000` (PL022) | PA2 clock, PA4 in, PA5 out | SPI mode 0, 8-bit frames, polled |
//! | SD chip select | GPIO port D at `0x4000_7000` | PD0, active low | the same line selects the OLED (active high) |
//! | modem UART | UART1 at `0x4000_D000` (PL011) | PD2 receive, PD3 transmit | polled; QEMU's second `-serial` |
//! | milliseconds | SysTick | | one interrupt per millisecond, counted |
//! | stack high-water mark | RAM between the statics and the stack pointer | | painted at start, scanned at the end |
//!
//! No PAC: the handful of registers are written through `read_volatile`/`write_volatile` at their
//! documented addresses. Everything is polled, so no interrupt but SysTick is enabled.
//!
//! **Clock.** QEMU derives the core clock from RCC's SYSDIV field (200 MHz / (SYSDIV + 1)); at reset
//! that is 12.5 MHz, and this glue leaves RCC alone. A real LM3S6965 board would set up the PLL and
//! change [`SYSCLK_HZ`]. [`Millis`] counts SysTick interrupts; checked on QEMU 7.2 against the
//! simulator's wall clock: a 5 s simulated programming time measures 5,016 ms. (QEMU prints "Timer
//! with period zero, disabling" once at reset, before the firmware runs; SysTick ticks regardless.)
//! [`BusyDelay`] is a cycle-count estimate (at least the requested time on a real core, where a loop
//! iteration takes at least one cycle; QEMU does not model cycle timing, so there it is approximate,
//! which only the SD card's initialisation retries depend on).
//!
//! **QEMU's SD card** needs two workarounds, both harmless on real cards: [`init_card`] (CMD58) and
//! [`SdSpi`] (an idle byte before a single-block write's data token).

use core::convert::Infallible;
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{ExceptionFrame, exception};
use embedded_hal::delay::DelayNs;
use embedded_hal::digital::{ErrorType as PinErrorType, OutputPin};
use embedded_hal::spi::{ErrorType as SpiErrorType, Operation, SpiBus, SpiDevice};
use embedded_hal_bus::spi::{ExclusiveDevice, NoDelay};
use embedded_io::{ErrorKind, ErrorType, Read, ReadReady, Write};
use embedded_sdmmc::embedded_sdmmc_types::sdcard::CardType;
use embedded_sdmmc::{SdCard, SdCardError, TimeSource, Timestamp};
use modem_upgrade::transport::{Clock, SetBaud};
use modem_upgrade::upgrade::Options;

/// The core clock of QEMU's lm3s6965evb at reset (RCC untouched); see the module docs for how it was
/// checked.
pub const SYSCLK_HZ: u32 = 12_500_000;

/// The modem UART's rate. QEMU's UART has no real rate (bytes go to a socket as fast as they come),
/// so it only matters on hardware.
const UART_BAUD: u32 = 115_200;

// System control: run-mode clock gating.
const SYSCTL_RCGC1: usize = 0x400F_E104;
const SYSCTL_RCGC2: usize = 0x400F_E108;
const RCGC1_UART1: u32 = 1 << 1;
const RCGC1_SSI0: u32 = 1 << 4;
const RCGC2_GPIOA: u32 = 1 << 0;
const RCGC2_GPIOD: u32 = 1 << 3;

// GPIO (PL061 with the Stellaris extensions). DATA is address-masked: offset (mask << 2) touches only
// the pins in `mask`.
const GPIOA: usize = 0x4000_4000;
const GPIOD: usize = 0x4000_7000;
const GPIO_DIR: usize = 0x400;
const GPIO_AFSEL: usize = 0x420;
const GPIO_DEN: usize = 0x51C;
const PD0: u32 = 1 << 0;
/// PA2 SSI0Clk, PA4 SSI0Rx, PA5 SSI0Tx (PA3, SSI0Fss, stays a plain pin: PD0 selects the card).
const SSI0_PINS: u32 = (1 << 2) | (1 << 4) | (1 << 5);
/// PD2 U1Rx, PD3 U1Tx.
const UART1_PINS: u32 = (1 << 2) | (1 << 3);

// SSI0 (PL022).
const SSI0: usize = 0x4000_8000;
const SSI_CR0: usize = 0x000;
const SSI_CR1: usize = 0x004;
const SSI_DR: usize = 0x008;
const SSI_SR: usize = 0x00C;
const SSI_CPSR: usize = 0x010;
const SSI_CR1_SSE: u32 = 1 << 1;
const SSI_SR_TNF: u32 = 1 << 1;
const SSI_SR_RNE: u32 = 1 << 2;
/// CR0: SPO = 0, SPH = 0 (mode 0), Freescale SPI frames, DSS = 7 (8-bit).
const SSI_CR0_MODE0_8BIT: u32 = 7;
const SSI_CPSR_DIV: u32 = 2;
/// Serial clock rate divider for card initialisation: 12.5 MHz / (2 × (1 + 15)) ≈ 390 kHz ≤ 400 kHz.
const SSI_SCR_SLOW: u32 = 15;
/// After initialisation: 12.5 MHz / (2 × (1 + 0)) = 6.25 MHz.
const SSI_SCR_FAST: u32 = 0;

// UART1 (PL011).
const UART1: usize = 0x4000_D000;
const UART_DR: usize = 0x000;
const UART_FR: usize = 0x018;
const UART_IBRD: usize = 0x024;
const UART_FBRD: usize = 0x028;
const UART_LCRH: usize = 0x02C;
const UART_CTL: usize = 0x030;
const UART_FR_BUSY: u32 = 1 << 3;
const UART_FR_RXFE: u32 = 1 << 4;
const UART_FR_TXFF: u32 = 1 << 5;
/// DR bits 8..=11: framing, parity, break, overrun error of the byte read.
const UART_DR_ERRORS: u32 = 0xF00;
/// LCRH: 8 data bits (WLEN = 3), FIFOs on; no parity, one stop bit.
const UART_LCRH_8N1_FIFO: u32 = (3 << 5) | (1 << 4);
/// CTL: UARTEN, TXE, RXE.
const UART_CTL_ENABLE: u32 = (1 << 0) | (1 << 8) | (1 << 9);

fn read_reg(address: usize) -> u32 {
    // SAFETY: every address passed here is one of the memory-mapped peripheral registers above (a
    // 4-byte aligned device register of the LM3S6965); reading it has no effect on Rust-visible memory.
    unsafe { read_volatile(address as *const u32) }
}

fn write_reg(address: usize, value: u32) {
    // SAFETY: as in `read_reg`; the registers written are owned by this module (one owner per
    // peripheral: `Board::take` hands out each driver once) and are not Rust-visible memory.
    unsafe { write_volatile(address as *mut u32, value) }
}

fn set_bits(address: usize, bits: u32) {
    write_reg(address, read_reg(address) | bits);
}

fn clear_bits(address: usize, bits: u32) {
    write_reg(address, read_reg(address) & !bits);
}

/// The board's peripherals, each handed out once.
pub struct Board {
    /// SSI0 as an SPI bus.
    pub spi: Ssi0,
    /// PD0, the SD card's chip select.
    pub sd_cs: SdChipSelect,
    /// A busy-loop delay.
    pub delay: BusyDelay,
    /// UART1, to the modem.
    pub uart: Uart1,
    /// Milliseconds since [`Board::take`].
    pub clock: Millis,
    /// The date stamped on files the card code creates.
    pub time: FixedTime,
}

impl Board {
    /// Turns the clocks of SSI0, UART1 and GPIO ports A and D on, configures the pins and starts
    /// SysTick. `None` if called twice.
    pub fn take() -> Option<Self> {
        let core = cortex_m::Peripherals::take()?;
        set_bits(SYSCTL_RCGC1, RCGC1_UART1 | RCGC1_SSI0);
        set_bits(SYSCTL_RCGC2, RCGC2_GPIOA | RCGC2_GPIOD);
        // The datasheet asks for a few cycles between gating a clock on and touching the peripheral.
        cortex_m::asm::delay(16);

        // PD0: a plain output, high (card deselected) before it drives the line.
        let mut sd_cs = SdChipSelect(());
        let Ok(()) = sd_cs.set_high();
        set_bits(GPIOD + GPIO_DIR, PD0);
        clear_bits(GPIOD + GPIO_AFSEL, PD0);
        set_bits(GPIOD + GPIO_DEN, PD0);

        set_bits(GPIOA + GPIO_AFSEL, SSI0_PINS);
        set_bits(GPIOA + GPIO_DEN, SSI0_PINS);
        let spi = Ssi0::new();

        set_bits(GPIOD + GPIO_AFSEL, UART1_PINS);
        set_bits(GPIOD + GPIO_DEN, UART1_PINS);
        let uart = Uart1::new(UART_BAUD);

        let clock = Millis::start(core.SYST);
        Some(Self {
            spi,
            sd_cs,
            delay: BusyDelay,
            uart,
            clock,
            time: FixedTime,
        })
    }
}

/// The upgrader's options for this board: the defaults. QEMU's UART has no rate of its own, so the
/// library's baud probe and its `AT+IPR` switch of the bootloader work with a no-op [`SetBaud`]. A
/// board whose UART rate is fixed in hardware sets `probe_rates` to that rate and `loader_baud` to
/// `None` instead (docs/porting.md, "The modem UART").
pub fn upgrade_options() -> Options {
    Options::default()
}

/// SSI0 as an embedded-hal 1.0 SPI bus: mode 0, 8-bit frames, polled.
pub struct Ssi0(());

impl Ssi0 {
    fn new() -> Self {
        write_reg(SSI0 + SSI_CR1, 0); // disabled, master
        write_reg(SSI0 + SSI_CPSR, SSI_CPSR_DIV);
        let mut ssi = Self(());
        ssi.set_scr(SSI_SCR_SLOW);
        ssi
    }

    fn set_scr(&mut self, scr: u32) {
        clear_bits(SSI0 + SSI_CR1, SSI_CR1_SSE);
        write_reg(SSI0 + SSI_CR0, (scr << 8) | SSI_CR0_MODE0_8BIT);
        set_bits(SSI0 + SSI_CR1, SSI_CR1_SSE);
    }

    /// Full speed, once the card is initialised.
    pub fn fast(&mut self) {
        self.set_scr(SSI_SCR_FAST);
    }

    /// Sends one byte and returns the byte received meanwhile. The controller always completes a
    /// frame (QEMU as soon as DR is written), so the waits end.
    fn exchange(&mut self, out: u8) -> u8 {
        while read_reg(SSI0 + SSI_SR) & SSI_SR_TNF == 0 {}
        write_reg(SSI0 + SSI_DR, u32::from(out));
        while read_reg(SSI0 + SSI_SR) & SSI_SR_RNE == 0 {}
        (read_reg(SSI0 + SSI_DR) & 0xFF) as u8
    }
}

impl SpiErrorType for Ssi0 {
    type Error = Infallible;
}

impl SpiBus<u8> for Ssi0 {
    /// Sends 0xFF while reading: an SD card takes anything else as the start of a command.
    fn read(&mut self, words: &mut [u8]) -> Result<(), Infallible> {
        for word in words {
            *word = self.exchange(0xFF);
        }
        Ok(())
    }

    fn write(&mut self, words: &[u8]) -> Result<(), Infallible> {
        for &word in words {
            self.exchange(word);
        }
        Ok(())
    }

    fn transfer(&mut self, read: &mut [u8], write: &[u8]) -> Result<(), Infallible> {
        for i in 0..read.len().max(write.len()) {
            let received = self.exchange(write.get(i).copied().unwrap_or(0xFF));
            if let Some(slot) = read.get_mut(i) {
                *slot = received;
            }
        }
        Ok(())
    }

    fn transfer_in_place(&mut self, words: &mut [u8]) -> Result<(), Infallible> {
        for word in words {
            *word = self.exchange(*word);
        }
        Ok(())
    }

    /// Every byte was received before `exchange` returned, so nothing is in flight.
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// PD0, the SD card's chip select (active low).
pub struct SdChipSelect(());

impl PinErrorType for SdChipSelect {
    type Error = Infallible;
}

impl OutputPin for SdChipSelect {
    fn set_low(&mut self) -> Result<(), Infallible> {
        write_reg(GPIOD + ((PD0 as usize) << 2), 0);
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Infallible> {
        write_reg(GPIOD + ((PD0 as usize) << 2), PD0);
        Ok(())
    }
}

/// A busy-loop delay from the cycle count at [`SYSCLK_HZ`] (see the module docs for its accuracy).
pub struct BusyDelay;

impl DelayNs for BusyDelay {
    fn delay_ns(&mut self, ns: u32) {
        let cycles = u64::from(ns) * u64::from(SYSCLK_HZ) / 1_000_000_000;
        let mut left = cycles.max(1);
        while left > 0 {
            let chunk = left.min(u64::from(u32::MAX));
            cortex_m::asm::delay(chunk as u32);
            left -= chunk;
        }
    }
}

/// UART1 (PL011), polled, as embedded-io `Read + Write + ReadReady`.
///
/// A byte received with a framing, parity, break or overrun error is dropped and reported as
/// `ErrorKind::InvalidData`, which the library counts as bytes lost on the line (its CRCs and retries
/// absorb them).
pub struct Uart1 {
    /// A byte with an error was met after good bytes were returned: report it on the next read.
    line_error: bool,
}

impl Uart1 {
    fn new(baud: u32) -> Self {
        write_reg(UART1 + UART_CTL, 0);
        // Divisor = SYSCLK / (16 × baud), as 16.6 fixed point, rounded.
        let divisor_x64 = (u64::from(SYSCLK_HZ) * 4 + u64::from(baud) / 2) / u64::from(baud);
        write_reg(UART1 + UART_IBRD, (divisor_x64 >> 6) as u32);
        write_reg(UART1 + UART_FBRD, (divisor_x64 & 0x3F) as u32);
        write_reg(UART1 + UART_LCRH, UART_LCRH_8N1_FIFO);
        write_reg(UART1 + UART_CTL, UART_CTL_ENABLE);
        Self { line_error: false }
    }

    fn rx_empty() -> bool {
        read_reg(UART1 + UART_FR) & UART_FR_RXFE != 0
    }
}

impl ErrorType for Uart1 {
    type Error = ErrorKind;
}

impl Read for Uart1 {
    /// Blocks until at least one byte is there (the library calls it only after `read_ready`).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        if buf.is_empty() {
            return Ok(0);
        }
        if core::mem::take(&mut self.line_error) {
            return Err(ErrorKind::InvalidData);
        }
        while Self::rx_empty() {}
        let mut n = 0;
        for slot in buf.iter_mut() {
            if Self::rx_empty() {
                break;
            }
            let word = read_reg(UART1 + UART_DR);
            if word & UART_DR_ERRORS != 0 {
                if n == 0 {
                    return Err(ErrorKind::InvalidData);
                }
                self.line_error = true;
                break;
            }
            *slot = (word & 0xFF) as u8;
            n += 1;
        }
        Ok(n)
    }
}

impl ReadReady for Uart1 {
    fn read_ready(&mut self) -> Result<bool, ErrorKind> {
        Ok(self.line_error || !Self::rx_empty())
    }
}

impl Write for Uart1 {
    /// Blocks until the transmit FIFO has room (it drains at the line rate: no flow control here).
    fn write(&mut self, buf: &[u8]) -> Result<usize, ErrorKind> {
        let Some((&first, rest)) = buf.split_first() else {
            return Ok(0);
        };
        while read_reg(UART1 + UART_FR) & UART_FR_TXFF != 0 {}
        write_reg(UART1 + UART_DR, u32::from(first));
        let mut n = 1;
        for &byte in rest {
            if read_reg(UART1 + UART_FR) & UART_FR_TXFF != 0 {
                break;
            }
            write_reg(UART1 + UART_DR, u32::from(byte));
            n += 1;
        }
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), ErrorKind> {
        while read_reg(UART1 + UART_FR) & UART_FR_BUSY != 0 {}
        Ok(())
    }
}

/// QEMU's UART has no rate to change: accept any (see [`upgrade_options`]).
impl SetBaud for Uart1 {
    type Error = Infallible;
    fn set_baud(&mut self, _baud: u32) -> Result<(), Infallible> {
        Ok(())
    }
}

/// A fault (a bad memory access, an undefined instruction) ends the session with a message and
/// exit status 1 instead of cortex-m-rt's default, a silent endless loop that only a timeout ends.
#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    cortex_m_semihosting::hprintln!(
        "hard fault: pc {:#010x}, lr {:#010x}, stack peak {} bytes",
        frame.pc(),
        frame.lr(),
        stack_peak_bytes()
    );
    exit(1)
}

/// Any other exception or interrupt: none is enabled but SysTick, so this is a fault as well.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    cortex_m_semihosting::hprintln!("unexpected exception {}", irqn);
    exit(1)
}

/// Milliseconds counted by the SysTick interrupt.
static TICKS_MS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    // Only this handler writes the counter; a load/store pair cannot be torn by itself.
    TICKS_MS.store(
        TICKS_MS.load(Ordering::Relaxed).wrapping_add(1),
        Ordering::Relaxed,
    );
}

/// A millisecond [`Clock`]: SysTick interrupts, one per millisecond of [`SYSCLK_HZ`] core cycles,
/// extended from the 32-bit counter to 64 bits here (the library reads it far more often than
/// every 49 days).
pub struct Millis {
    last: u32,
    high: u64,
}

impl Millis {
    fn start(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(SYSCLK_HZ / 1_000 - 1);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        Self { last: 0, high: 0 }
    }
}

impl Clock for Millis {
    fn now_ms(&mut self) -> u64 {
        let now = TICKS_MS.load(Ordering::Relaxed);
        if now < self.last {
            self.high += 1 << 32;
        }
        self.last = now;
        self.high | u64::from(now)
    }
}

/// embedded-sdmmc stamps files it creates (the journal, once): the board has no RTC, so a fixed date.
pub struct FixedTime;

impl TimeSource for FixedTime {
    fn get_timestamp(&self) -> Timestamp {
        Timestamp::from_fat(0x5A21, 0) // 2025-01-01 00:00
    }
}

/// The card's SPI device: SSI0 with PD0 as its chip select, and one idle byte before a write's data
/// token.
///
/// The SD specification asks for at least one byte time (N<sub>WR</sub>) between the card's answer
/// to a write command and the host's start-block token; embedded-sdmmc 0.10 sends the token (0xFE)
/// right after the answer of CMD24. Real cards mostly tolerate that; QEMU's `ssi-sd` does not: it
/// swallows the byte that follows a complete answer, misses the token and reads the 512 data bytes
/// as commands ("write error"). So this device clocks one 0xFF before a lone 0xFE, which any card
/// accepts (idle bytes before a token are always allowed). Reads, commands and multi-block writes
/// (whose tokens follow a busy wait) pass through untouched.
pub struct SdSpi {
    device: ExclusiveDevice<Ssi0, SdChipSelect, NoDelay>,
}

/// The start-block token of a single-block write (and of every data block the card sends).
const DATA_START_BLOCK: u8 = 0xFE;

impl SdSpi {
    /// The card on `spi`, selected by `cs`.
    pub fn new(spi: Ssi0, cs: SdChipSelect) -> Self {
        let Ok(device) = ExclusiveDevice::new_no_delay(spi, cs);
        Self { device }
    }
}

impl SpiErrorType for SdSpi {
    type Error = <ExclusiveDevice<Ssi0, SdChipSelect, NoDelay> as SpiErrorType>::Error;
}

impl SpiDevice for SdSpi {
    fn transaction(&mut self, operations: &mut [Operation<'_, u8>]) -> Result<(), Self::Error> {
        if let [Operation::Transfer(read, write)] = operations
            && *write == [DATA_START_BLOCK]
        {
            return self.device.transaction(&mut [
                Operation::Write(&[0xFF]),
                Operation::Transfer(read, write),
            ]);
        }
        self.device.transaction(operations)
    }
}

/// Initialises the card, working around QEMU's SD model, and raises the SPI clock.
///
/// QEMU's `ssi-sd` answers CMD58 (read OCR) with R1 = 0x01 (idle) even after initialisation, and
/// embedded-sdmmc then gives up with `Cmd58Error` although CMD8 and ACMD41 went through. The card
/// is initialised at that point: clock out the rest of its answer, tell the driver the card type,
/// and read the card's size (which reads the CSD, proving the card answers).
pub fn init_card(sd: &SdCard<SdSpi, BusyDelay>) -> Result<u64, SdCardError> {
    let bytes = match sd.num_bytes() {
        Ok(bytes) => bytes,
        Err(SdCardError::Cmd58Error) => {
            sd.spi(|card| card.device.write(&[0xFF; 8]))
                .map_err(|_| SdCardError::Transport)?;
            // SAFETY: the driver sent CMD0, CMD8 (answered 0x1AA: an SD v2 card) and ACMD41 until the
            // card left the idle state; only the OCR read failed, because of QEMU's model. The card
            // is therefore initialised, and is SD v2 with byte addressing (QEMU gives cards up to
            // 2 GiB a standard-capacity OCR).
            unsafe { sd.mark_card_as_init(CardType::SD2) };
            let bytes = sd.num_bytes()?;
            if bytes > 2 << 30 {
                // SAFETY: as above; a card over 2 GiB is high capacity (block addressing).
                unsafe { sd.mark_card_as_init(CardType::SdhcSdxc) };
            }
            bytes
        }
        Err(e) => return Err(e),
    };
    sd.spi(|card| card.device.bus_mut().fast());
    Ok(bytes)
}

/// What the stack's unused RAM is painted with, to find the deepest the stack ever reached.
const STACK_PAINT: u32 = 0xC0DE_5AFE;
/// Left unpainted below the stack pointer of [`paint_stack`]'s caller: its own frame and an
/// exception frame.
const PAINT_MARGIN: usize = 256;

unsafe extern "C" {
    /// The first byte after the statics (cortex-m-rt's `link.x`): the lowest address the stack may
    /// grow down to.
    static __sheap: u32;
    /// The initial stack pointer: the top of RAM (cortex-m-rt's `link.x`).
    static _stack_start: u32;
}

/// The RAM the stack may use: from the end of the statics to the top of RAM.
fn stack_region() -> (usize, usize) {
    ((&raw const __sheap) as usize, (&raw const _stack_start) as usize)
}

/// Paints the free stack (from the statics up to just below the caller's frame) with a pattern,
/// so that [`stack_peak_bytes`] can later find how deep the stack went. Call it first in `main`.
pub fn paint_stack() {
    let (bottom, _) = stack_region();
    let below_caller = (cortex_m::register::msp::read() as usize).saturating_sub(PAINT_MARGIN);
    let mut address = (bottom + 3) & !3;
    while address + 4 <= below_caller {
        // SAFETY: `address` is 4-byte aligned and lies between the end of the statics and 256 bytes
        // below the live stack pointer: RAM no Rust object owns (the stack has not grown there yet,
        // and this function's own frame is within the 256 bytes left alone). Nothing else runs: only
        // SysTick interrupts, whose frames are pushed below the stack pointer and rewritten anyway.
        unsafe { write_volatile(address as *mut u32, STACK_PAINT) };
        address += 4;
    }
}

/// The most stack used since [`paint_stack`], in bytes: from the top of RAM down to the lowest word
/// no longer holding the paint.
pub fn stack_peak_bytes() -> usize {
    let (bottom, top) = stack_region();
    let mut address = (bottom + 3) & !3;
    // SAFETY: reads aligned words of RAM between the statics and the top of RAM; any value is a
    // valid `u32`, and the words below the stack pointer are not referenced by Rust objects.
    while address < top && unsafe { read_volatile(address as *const u32) } == STACK_PAINT {
        address += 4;
    }
    top - address
}

/// The RAM the statics occupy (`.data`, `.bss`, `.uninit`), in bytes.
pub fn static_ram_bytes() -> usize {
    let (bottom, _) = stack_region();
    bottom - RAM_START
}

/// The first address of RAM (memory.x).
const RAM_START: usize = 0x2000_0000;

/// Ends the QEMU session with `code` as its exit status (semihosting `SYS_EXIT_EXTENDED`); on a real
/// board under a debugger the debugger gets the code, without one the core would hard-fault, so a
/// product resets instead.
pub fn exit(code: u8) -> ! {
    /// ADP_Stopped_ApplicationExit.
    const APPLICATION_EXIT: usize = 0x20026;
    const SYS_EXIT_EXTENDED: usize = 0x20;
    let block = [APPLICATION_EXIT, usize::from(code)];
    // SAFETY: a semihosting call with a valid, live parameter block of two words; QEMU (started with
    // `-semihosting-config enable=on`) ends the process and never returns.
    unsafe { cortex_m_semihosting::syscall1(SYS_EXIT_EXTENDED, block.as_ptr() as usize) };
    loop {
        cortex_m::asm::bkpt();
    }
}
