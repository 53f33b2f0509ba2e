"""Time to a class-conditional DDPM whose samples the digit classifier recognises: at least ``--target`` class accuracy.

One process, one data set (MNIST through ``course_utils.data.load_mnist``: full MNIST when it can be loaded,
otherwise the offline fallback of 4,000 training digits, and the JSON says which). The course's
``DDPM`` (a small U-Net with a class embedding, classifier-free guidance, a linear schedule of T = 1000
steps) is trained with ``course_utils.models.diffusion.train_ddpm``; every ``--eval-every`` steps training
pauses, ``--per-class`` samples of every digit are drawn with ``--sampling-steps`` steps and guidance
``--guidance``, and the shipped ``digit_classifier`` scores them. The clock that counts is the training
time until the first evaluation that reaches the target; evaluation time is reported separately, and the
run also reports the whole wall time. The last evaluation also gives the Fréchet classifier distance (FCD,
``course_utils.generative``; not Inception FID).

The GPU path keeps the whole data set on the device (batches are index operations, no DataLoader), runs
the forward pass under bfloat16 autocast, stores the network and the batches channels-last, and can
compile the network (``--compile``). On the CPU it runs in float32 with one thread unless told otherwise.

    python bench/diffusion.py                          # CPU here (defaults for the device it finds)
    python bench/diffusion.py --device cuda --compile  # on a GPU, full MNIST when it can be loaded
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from course_utils import generative
from course_utils.models import diffusion as D
from course_utils.runtime import seed_everything

DEFAULTS = {  # per device type: width, batch size, learning rate, evaluation interval, samples per class
    "cpu": {"width": 16, "batch_size": 64, "lr": 2e-3, "eval_every": 250, "per_class": 50},
    "cuda": {"width": 32, "batch_size": 256, "lr": 2e-3, "eval_every": 250, "per_class": 100},
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load_data(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Training images in [-1, 1] and labels on ``device``, test images in [0, 1] (CPU), and whether it is the fallback."""
    train_images, train_labels, fallback = generative.mnist_digits(True, device, verbose=True)
    test_images, _, _ = generative.mnist_digits(False, "cpu")
    return D.from_unit(train_images), train_labels, test_images, fallback


def run(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    if device.type == "cpu" and args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    images, labels, test_images, fallback = load_data(device)
    if args.limit:
        images, labels = images[: args.limit], labels[: args.limit]
    gpu = device.type == "cuda"
    bf16 = gpu and not args.no_bf16
    channels_last = gpu and not args.no_channels_last
    if gpu:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = D.DDPM("linear", 1000, width=args.width).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    network = torch.compile(model.net) if args.compile else model.net
    alpha_bars = model.schedule.alpha_bars.to(device=device, dtype=torch.float32)

    def step_fn(ddpm, x0, y, generator):
        if channels_last:
            x0 = x0.contiguous(memory_format=torch.channels_last)
        return D.noise_prediction_loss(network, x0, alpha_bars, y, generator)

    classifier = generative.load_digit_classifier(device=device, verbose=False)
    evaluations: list[dict] = []
    clock = {"train": 0.0, "eval": 0.0, "mark": 0.0, "reached": None}

    def evaluate(step: int) -> bool:
        _sync(device)
        now = time.perf_counter()
        clock["train"] += now - clock["mark"]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            samples, sample_labels = D.conditional_samples(model, args.per_class, args.sampling_steps, args.guidance, seed=step)
        accuracy = generative.class_accuracy(samples, sample_labels, classifier)
        model.train()
        _sync(device)
        spent = time.perf_counter() - now
        clock["eval"] += spent
        evaluations.append({"step": step, "train_seconds": round(clock["train"], 2), "class_accuracy": round(accuracy, 4),
                            "eval_seconds": round(spent, 2)})
        print(f"step {step:6d}: training {clock['train']:8.1f} s, class accuracy {accuracy:.1%} "
              f"({len(samples)} samples, {args.sampling_steps} steps; evaluation {spent:.1f} s)", flush=True)
        if accuracy >= args.target:
            clock["reached"] = step
            return True
        clock["mark"] = time.perf_counter()
        return False

    def callback(step: int) -> bool:
        return step % args.eval_every == 0 and evaluate(step)

    wall_start = time.perf_counter()
    cpu_start = time.process_time()
    clock["mark"] = time.perf_counter()
    history = D.train_ddpm(model, images, labels, args.max_steps, args.batch_size, args.lr, warmup=args.warmup,
                           label_dropout=0.1, seed=args.seed, log_every=50, progress=False,
                           autocast_dtype=torch.bfloat16 if bf16 else None, step_fn=step_fn, callback=callback)
    if clock["reached"] is None and (not evaluations or evaluations[-1]["step"] != history["step"][-1]):
        evaluate(history["step"][-1])  # the last step, if it was not evaluated
    wall = time.perf_counter() - wall_start
    cpu = time.process_time() - cpu_start
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        final_samples, final_labels = D.conditional_samples(model, args.per_class, args.sampling_steps, args.guidance, seed=12345)
    quality = generative.sample_quality(final_samples, test_images, classifier, labels=final_labels)
    reached = clock["reached"]
    steps_done = reached if reached is not None else history["step"][-1]
    return {
        "device": torch.cuda.get_device_name(device) if gpu else f"cpu ({platform.processor() or platform.machine()})",
        "threads": torch.get_num_threads(),
        "load_average_at_start": args.load_average,
        "data": generative.data_description(fallback, len(images), len(test_images)),
        "fallback": fallback,
        "target": args.target,
        "reached": reached is not None,
        "steps": steps_done,
        "epochs": round(steps_done * args.batch_size / len(images), 2),
        "train_seconds_to_target": round(clock["train"], 2) if reached is not None else None,
        "train_seconds": round(clock["train"], 2),
        "eval_seconds": round(clock["eval"], 2),
        "wall_seconds": round(wall, 2),
        "process_cpu_seconds": round(cpu, 2),
        "settings": {"width": args.width, "batch_size": args.batch_size, "lr": args.lr, "warmup": args.warmup,
                     "max_steps": args.max_steps, "eval_every": args.eval_every, "per_class": args.per_class,
                     "sampling_steps": args.sampling_steps, "guidance": args.guidance, "bf16": bf16,
                     "channels_last": channels_last, "compile": args.compile, "parameters": sum(p.numel() for p in model.parameters())},
        "evaluations": evaluations,
        "final_quality": {"samples": len(final_samples), **quality},
        "loss_history": history,
        "torch": torch.__version__,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--target", type=float, default=0.95, help="class accuracy of the samples to reach")
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--max-steps", type=int, default=6000, help="the learning rate decays to zero over this many steps")
    parser.add_argument("--eval-every", type=int, default=None)
    parser.add_argument("--per-class", type=int, default=None, help="samples of each digit per evaluation")
    parser.add_argument("--sampling-steps", type=int, default=50)
    parser.add_argument("--guidance", type=float, default=2.0)
    parser.add_argument("--limit", type=int, default=None, help="use only this many training digits (smoke tests)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (0: leave PyTorch's default)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network")
    parser.add_argument("--no-bf16", action="store_true", help="train in float32 on the GPU too")
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: bench/results/diffusion_<device>.json)")
    args = parser.parse_args(argv)
    defaults = DEFAULTS["cuda" if args.device.startswith("cuda") else "cpu"]
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.load_average = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    summary = run(args)
    out = args.out or Path(__file__).resolve().parent / "results" / f"diffusion_{torch.device(args.device).type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    if summary["reached"]:
        print(f"reached {summary['target']:.0%} class accuracy after {summary['steps']} steps ({summary['epochs']} epochs) and "
              f"{summary['train_seconds_to_target']:.1f} s of training on {summary['device']} ({summary['data']}); "
              f"evaluations took {summary['eval_seconds']:.1f} s more, {summary['wall_seconds']:.1f} s wall in all")
    else:
        print(f"did NOT reach {summary['target']:.0%} within {summary['steps']} steps ({summary['train_seconds']:.1f} s of training)")
    print(f"final check, {summary['final_quality']['samples']} new samples: {generative.describe_quality(summary['final_quality'])}")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
