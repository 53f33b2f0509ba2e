# Mutant: evaluate_accuracy passes the whole split through the model at once, ignoring batch_size
# %% grade_id=evaluate_accuracy
def evaluate_accuracy(model, images, labels, batch_size=1000):
    """Fraction of images that model classifies as labels, in evaluation mode, as a Python float."""
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():  # small splits: one batch is fine
        predicted = model(images.to(device)).argmax(dim=1)
    return (predicted == labels.to(device)).float().mean().item()
