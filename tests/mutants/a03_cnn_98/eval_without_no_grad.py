# Mutant: evaluate_accuracy switches to evaluation mode but builds a graph (no torch.no_grad)
# %% grade_id=evaluate_accuracy
def evaluate_accuracy(model, images, labels, batch_size=1000):
    """Fraction of images that model classifies as labels, in evaluation mode, as a Python float."""
    model.eval()  # dropout off, batch norm uses its running statistics
    device = next(model.parameters()).device
    n_correct = 0
    if True:
        for start in range(0, len(labels), batch_size):
            batch_images = images[start:start + batch_size].to(device)
            batch_labels = labels[start:start + batch_size].to(device)
            n_correct += (model(batch_images).argmax(dim=1) == batch_labels).sum().item()
    return n_correct / len(labels)
