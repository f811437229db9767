#[path = "support/sim_link.rs"]
mod sim_link;

use modem_sim::{Model, Sim, SimConfig, synth};
use modem_upgrade::storage::MemImage;
use modem_upgrade::storage::journal::MemJournal;
use modem_upgrade::upgrade::{Buffers, FnObserver, Source, Upgrader, BLOCK_BUFFER_LEN, READ_AHEAD_LEN};
use sim_link::{context, link};

#[test]
fn app_mode_upgrade() {
    let sim = Sim::new(SimConfig::sqn3330());
    let mut link = link(&sim);
    let dup = synth::full_dup(Model::Sqn3330, "5.1.2.0 [39529]", 200_000);
    let mut journal = MemJournal::new();
    let (mut block, mut window) = ([0u8; BLOCK_BUFFER_LEN], [0u8; READ_AHEAD_LEN]);
    let buffers = Buffers { block: &mut block, window: &mut window };
    let result = Upgrader::new(&mut link, Source::new("CATM1-39529.dup", MemImage::new(&dup)), &mut journal, buffers)
        .with_observer(FnObserver(|e: &modem_upgrade::upgrade::Event<'_>| {
            if !matches!(e, modem_upgrade::upgrade::Event::Progress { .. } | modem_upgrade::upgrade::Event::Waiting { .. }) {
                eprintln!("{e:?}");
            }
            core::ops::ControlFlow::Continue(())
        }))
        .run();
    match result {
        Ok(r) => eprintln!("{r:?}"),
        Err(f) => panic!("{f}\n{:?}\n{}", f.report, context(&sim)),
    }
}
