"""The benchmarked FCNs written directly as plain PyTorch modules: the yardstick
that shows the engine's overhead.  Layer names follow the prototxts, so the
engine's weights copy in by name and both compute the same function."""
import torch
import torch.nn as nn
import torch.nn.functional as F

VGG_BLOCKS = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]


class PlainFCN(nn.Module):
    """Shared parts: the weights by Caffe layer name, the head, the loss."""

    def conv(self, name, cin, cout, k, **kw):
        self.layers[name] = nn.Conv2d(cin, cout, k, **kw)

    def head(self, x):
        x = F.relu(self.layers['fc6'](x))
        x = F.dropout(x, 0.5, self.training)
        x = F.relu(self.layers['fc7'](x))
        x = F.dropout(x, 0.5, self.training)
        return self.layers['score_fr'](x)

    @staticmethod
    def crop(x, ref, offset):
        h, w = ref.shape[-2:]
        return x[..., offset:offset + h, offset:offset + w]

    def freeze(self, names):
        """No gradients for these layers' weights (lr_mult 0 in the prototxt, like the bilinear upsampling)."""
        for name in names:
            for p in self.layers[name].parameters():
                p.requires_grad_(False)
        return self

    def load_from(self, net):
        """Copy every weight from a torchcaffe net with the same layer names."""
        with torch.no_grad():
            for name, module in self.layers.items():
                blobs = net.params[name]
                module.weight.copy_(torch.from_numpy(blobs[0].data))
                if module.bias is not None:
                    module.bias.copy_(torch.from_numpy(blobs[1].data))
        return self

    normalize = False   # the loss layer's loss_param.normalize in the net's train.prototxt

    def loss(self, score, label):
        """FCN's loss: softmax cross-entropy over pixels, void (255) ignored, summed or averaged."""
        return F.cross_entropy(score, label[:, 0].long(), ignore_index=255,
                               reduction='mean' if self.normalize else 'sum')


class VGG16FCN(PlainFCN):
    """FCN-32s, 16s or 8s on VGG16, as in the voc-fcn*s prototxts."""

    def __init__(self, stride, n_classes=21):
        super().__init__()
        self.stride = stride
        self.layers = nn.ModuleDict()
        cin = 3
        for b, (n, cout) in enumerate(VGG_BLOCKS, 1):
            for i in range(1, n + 1):
                self.conv('conv%d_%d' % (b, i), cin, cout, 3, padding=100 if (b, i) == (1, 1) else 1)
                cin = cout
        self.conv('fc6', 512, 4096, 7)
        self.conv('fc7', 4096, 4096, 1)
        self.conv('score_fr', 4096, n_classes, 1)
        up = lambda name, k, s: self.layers.__setitem__(
            name, nn.ConvTranspose2d(n_classes, n_classes, k, stride=s, bias=False))
        if stride == 32:
            up('upscore', 64, 32)
        else:
            up('upscore2', 4, 2)
            self.conv('score_pool4', 512, n_classes, 1)
            if stride == 16:
                up('upscore16', 32, 16)
            else:
                up('upscore_pool4', 4, 2)
                self.conv('score_pool3', 256, n_classes, 1)
                up('upscore8', 16, 8)

    def forward(self, data):
        x, pools = data, {}
        for b, (n, _) in enumerate(VGG_BLOCKS, 1):
            for i in range(1, n + 1):
                x = F.relu(self.layers['conv%d_%d' % (b, i)](x))
            x = pools[b] = F.max_pool2d(x, 2, 2, ceil_mode=True)
        score = self.head(x)
        L = self.layers
        if self.stride == 32:
            return self.crop(L['upscore'](score), data, 19)
        up2 = L['upscore2'](score)
        fuse4 = up2 + self.crop(L['score_pool4'](pools[4]), up2, 5)
        if self.stride == 16:
            return self.crop(L['upscore16'](fuse4), data, 27)
        up4 = L['upscore_pool4'](fuse4)
        fuse3 = up4 + self.crop(L['score_pool3'](pools[3]), up4, 9)
        return self.crop(L['upscore8'](fuse3), data, 31)


class AlexNetFCN(PlainFCN):
    """FCN-AlexNet (CaffeNet trunk), as in the voc-fcn-alexnet prototxts."""
    normalize = True

    def __init__(self, n_classes=21):
        super().__init__()
        self.layers = nn.ModuleDict()
        self.conv('conv1', 3, 96, 11, stride=4, padding=100)
        self.conv('conv2', 96, 256, 5, padding=2, groups=2)
        self.conv('conv3', 256, 384, 3, padding=1)
        self.conv('conv4', 384, 384, 3, padding=1, groups=2)
        self.conv('conv5', 384, 256, 3, padding=1, groups=2)
        self.conv('fc6', 256, 4096, 6)
        self.conv('fc7', 4096, 4096, 1)
        self.conv('score_fr', 4096, n_classes, 1)
        self.layers['upscore'] = nn.ConvTranspose2d(n_classes, n_classes, 63, stride=32, bias=False)
        self.lrn = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)

    def forward(self, data):
        L = self.layers
        x = self.lrn(F.max_pool2d(F.relu(L['conv1'](data)), 3, 2, ceil_mode=True))
        x = self.lrn(F.max_pool2d(F.relu(L['conv2'](x)), 3, 2, ceil_mode=True))
        x = F.relu(L['conv5'](F.relu(L['conv4'](F.relu(L['conv3'](x))))))
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        return self.crop(L['upscore'](self.head(x)), data, 18)


def plain_fcn(net_name):
    """The plain module for a benchmarked net name."""
    return {'voc-fcn32s': lambda: VGG16FCN(32), 'voc-fcn16s': lambda: VGG16FCN(16),
            'voc-fcn8s': lambda: VGG16FCN(8), 'voc-fcn-alexnet': AlexNetFCN}[net_name]()
